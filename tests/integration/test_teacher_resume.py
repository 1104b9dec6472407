"""Kill the sharded teacher run with SIGKILL mid-way, restart it: exactly the rows of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from fastdistill.inference.topk_store import TeacherOutputs

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, signal, sys
from pathlib import Path
import pandas as pd
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import label_sharded
from fastdistill.config import TeacherConfig
from fastdistill.models import resolve_model

work, kill_after = Path(sys.argv[1]), int(sys.argv[2])
rows = pd.DataFrame({"id": [f"r{i}" for i in range(10)], "split": "train", "category": "c",
                     "prompt": [f"Tell me fact number {i}." for i in range(10)], "reference": None})
config = TeacherConfig(model="tiny:teacher", top_k=4, max_new_tokens=8, batch_size=4)
backend = HFBackend(resolve_model(config.model))

generated = []

def crash(index, path):
    generated.append(index)
    if index + 1 == kill_after:
        # What a kill in the middle of the next write leaves behind: a temp file, never a shard.
        (path.parent / ".shard-00002.parquet.tmp-99999").write_bytes(b"half a parquet file")
        os.kill(os.getpid(), signal.SIGKILL)

outputs = label_sharded(backend, rows, config, work, shard_rows=3, on_shard=crash)
outputs.save(Path(str(work) + "-result"))
print("finished", work.exists(), generated)
"""


def _run(work: Path, kill_after: int, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FASTDISTILL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(work), str(kill_after)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_sigkill_and_restart_yields_exactly_the_uninterrupted_dataset(tmp_path, model_cache_dir, tiny_teacher_dir):
    killed = _run(tmp_path / "resumed", kill_after=2, cache=model_cache_dir)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    done = sorted(p.name for p in (tmp_path / "resumed").glob("shard-*.parquet"))
    assert done == ["shard-00000.parquet", "shard-00001.parquet"]
    assert not (tmp_path / "resumed" / "manifest.json").exists()

    resumed = _run(tmp_path / "resumed", kill_after=0, cache=model_cache_dir)
    # only the two missing shards are generated; the finished job's directory is removed
    assert resumed.returncode == 0 and "finished False [2, 3]" in resumed.stdout, resumed.stderr[-2000:]
    clean = _run(tmp_path / "clean", kill_after=0, cache=model_cache_dir)
    assert clean.returncode == 0, clean.stderr[-2000:]

    a, b = TeacherOutputs.load(tmp_path / "resumed-result").frame, TeacherOutputs.load(tmp_path / "clean-result").frame
    assert a["id"].tolist() == b["id"].tolist() == [f"r{i}" for i in range(10)]
    for x, y in zip(a.itertuples(), b.itertuples()):
        assert (x.prompt_ids, x.response_ids, x.response_text) == (y.prompt_ids, y.response_ids, y.response_text)
        assert np.array_equal(x.topk_ids, y.topk_ids) and np.array_equal(x.topk_logprobs, y.topk_logprobs)
