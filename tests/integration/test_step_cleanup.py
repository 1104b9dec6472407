"""Work kept to resume (teacher shards) is cleared only once ZenML has stored the step's outputs, never when the
step or the storing failed: a pod lost while the outputs are written must still find the shards.

A real ZenML pipeline on the local orchestrator, in a subprocess with its own ZENML_CONFIG_PATH; the failing store
is a materializer whose save raises, as a full or unreachable bucket would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from pathlib import Path
from zenml import pipeline, step
from zenml.materializers.base_materializer import BaseMaterializer
from steps._scratch import after_outputs_stored

marker = Path(sys.argv[1])


class Unstorable:
    pass


class BrokenStore(BaseMaterializer):
    ASSOCIATED_TYPES = (Unstorable,)

    def save(self, data):
        raise RuntimeError("the artifact store is unreachable")


@step(enable_cache=False)
def stored() -> int:
    after_outputs_stored(lambda: (marker / "stored").write_text("cleared"))
    return 1


@step(enable_cache=False, output_materializers=BrokenStore)
def not_stored() -> Unstorable:
    after_outputs_stored(lambda: (marker / "not_stored").write_text("cleared"))
    return Unstorable()


@step(enable_cache=False)
def fails() -> int:
    after_outputs_stored(lambda: (marker / "fails").write_text("cleared"))
    raise RuntimeError("the teacher ran out of memory")


@pipeline
def cleanup_ok():
    stored()


@pipeline
def cleanup_store():
    not_stored()


@pipeline
def cleanup_step():
    fails()


for name, run in (("ok", cleanup_ok), ("store", cleanup_store), ("step", cleanup_step)):
    try:
        run()
        print("RAN", name)
    except Exception as err:
        print("FAILED", name, type(err).__name__)
"""


def test_work_is_cleared_after_the_outputs_are_stored_and_kept_when_anything_failed(tmp_path):
    script = tmp_path / "cleanup_pipelines.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
           "ZENML_ANALYTICS_OPT_IN": "false"}
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = [line for line in out.stdout.splitlines() if line.startswith(("RAN", "FAILED"))]
    assert runs == ["RAN ok", "FAILED store RuntimeError", "FAILED step RuntimeError"], out.stdout[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name in {"stored", "not_stored", "fails"}) == ["stored"]
