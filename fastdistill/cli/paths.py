"""Where the CLI finds the project: the directory that holds run.py, configs/ and this package."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
BORN_AGAIN = ROOT / "configs" / "born_again.yaml"
REPORTS = ROOT / "reports"
