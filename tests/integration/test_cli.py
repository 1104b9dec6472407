"""run.py's help and dry-run paths (no pipeline runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    out = _cli("--help")
    assert out.returncode == 0
    assert "distill" in out.stdout and "stack" in out.stdout and "quickstart" in out.stdout


def test_dry_run_validates_the_quickstart_and_prints_resolved_parameters():
    out = _cli("distill", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "configs/quickstart.yaml: valid" in out.stdout.replace("\n", "")
    assert "seeds_sha256:" in out.stdout and "num_layers: 24" in out.stdout


def test_bad_config_exits_2_with_the_field_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters:\n  teacher:\n    model: packaged:gpt5\n  training:\n    objective: rkll\n")
    out = _cli("distill", "--config", str(bad), "--dry-run")
    assert out.returncode == 2
    text = " ".join(out.stdout.split())
    assert "teacher.model: 'packaged:gpt5' is not a packaged model" in text
    assert "training.objective = 'rkll' is not allowed" in text


def test_error_text_with_brackets_is_printed_as_written(tmp_path):
    bad = tmp_path / "brackets.yaml"
    bad.write_text('"[gpu]": 1\n"[/x]": 2\nparameters: {}\n')
    out = _cli("distill", "--config", str(bad), "--dry-run")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "MarkupError" not in out.stderr
    assert f"error: {bad}: unknown top-level key(s) ['[/x]', '[gpu]']" in out.stdout.replace("\n", "")
