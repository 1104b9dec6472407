"""The local stack bootstrap against a real ZenML store (its own config dir, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from pathlib import Path
from fastdistill.stack import ensure_local_stack
from zenml.client import Client
from zenml.enums import StackComponentType

project = Path(sys.argv[1])
uri = sys.argv[2] if len(sys.argv) > 2 else None
first = ensure_local_stack(project, uri)
second = ensure_local_stack(project, uri)
client = Client()
stack = client.active_stack_model
print(json.dumps({
    "same": first == second,
    "tracking_uri": second.tracking_uri,
    "active": stack.name,
    "tracker": stack.components[StackComponentType.EXPERIMENT_TRACKER][0].name,
    "registry": stack.components[StackComponentType.MODEL_REGISTRY][0].name,
    "trackers": len(client.list_stack_components(type=StackComponentType.EXPERIMENT_TRACKER)),
    "stacks": len(client.list_stacks(name="fastdistill_local")),
    "repo": str(client.root),
}))
"""


def _bootstrap(tmp_path: Path, *args: str) -> dict:
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "project"), *args], env=env,
                         capture_output=True, text=True, cwd=tmp_path / "project", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bootstrap_is_idempotent_and_points_mlflow_into_the_project(tmp_path):
    (tmp_path / "project").mkdir()
    first = _bootstrap(tmp_path)
    assert first["same"] and first["active"] == "fastdistill_local"
    assert first["tracker"] == "fastdistill_mlflow_tracker" and first["registry"] == "fastdistill_mlflow_registry"
    assert first["tracking_uri"] == f"sqlite:///{tmp_path / 'project' / '.fastdistill' / 'mlflow' / 'mlflow.db'}"
    assert first["repo"] == str(tmp_path / "project") and (tmp_path / "project" / ".zen").is_dir()
    again = _bootstrap(tmp_path)
    assert (again["trackers"], again["stacks"]) == (1, 1)


def test_configured_tracking_uri_updates_the_existing_tracker(tmp_path):
    (tmp_path / "project").mkdir()
    _bootstrap(tmp_path)
    other = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    updated = _bootstrap(tmp_path, other)
    assert updated["tracking_uri"] == other and updated["trackers"] == 1
