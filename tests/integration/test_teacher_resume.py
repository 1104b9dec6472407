"""Teacher shards live under the ZenML artifact store: a run killed with SIGKILL resumes on a "new pod" (an empty
local cache) with every row exactly once, and the local cache is only a fast path checked against the manifest.

Real parts throughout: the tiny teacher (built in-process, no download) run by transformers, ZenML's local artifact
store in a temporary ZENML_CONFIG_PATH, a real SIGKILL. Nothing is mocked; the child only pauses itself at the
worst moment to be killed (a shard stored, the manifest not yet listing it), so the kill lands there every time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fastdistill.config import TeacherConfig
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import PROGRESS, ShardDirs, label_sharded, work_fingerprint, work_identity
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.infra.durable import DurableDir

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, threading
from pathlib import Path
import pandas as pd
from fastdistill.config import TeacherConfig
from fastdistill.inference.backends import backend_for
from fastdistill.inference.labelling import PROGRESS, ShardDirs, label_sharded, shard_dirs
from fastdistill.infra.durable import DurableDir
from fastdistill.models import resolve_model

teacher, stall_at, result = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
rows = pd.DataFrame({"id": [f"r{i}" for i in range(10)], "split": "train", "category": "c",
                     "prompt": [f"Tell me fact number {i}." for i in range(10)], "reference": None})
config = TeacherConfig(model=teacher, top_k=4, max_new_tokens=8, batch_size=4, shard_rows=3)
backend = backend_for(config)
dirs = shard_dirs(rows, config, backend, resolve_model(config.model))  # what the teacher_inference step uses


class StallBeforeListing(DurableDir):
    def write_bytes(self, name, data):
        if name == PROGRESS and f"shard-{stall_at:05d}" in data.decode():
            print("STALLED", flush=True)  # shard `stall_at` is stored, the manifest does not list it yet
            threading.Event().wait()
        super().write_bytes(name, data)


if stall_at >= 0:
    dirs = ShardDirs(StallBeforeListing(dirs.durable.root, dirs.durable.fs), dirs.cache, dirs.identity)
print("DIRS", json.dumps({"durable": dirs.durable.root, "cache": dirs.cache.root}), flush=True)
sources = {}
outputs = label_sharded(backend, rows, config, dirs, on_shard=lambda index, source: sources.__setitem__(index, source))
outputs.save(result)
dirs.clear()  # what the step does once ZenML has stored the outputs
print("DONE", json.dumps({"sources": sources, "durable_left": dirs.durable.fs.exists(dirs.durable.root)}), flush=True)
"""


def _start(tmp: Path, teacher: Path, stall_at: int, name: str) -> tuple[subprocess.Popen, dict]:
    """A child labelling the rows with its own empty local cache (a new pod) and the shared ZenML store."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FASTDISTILL_CACHE": str(tmp / f"cache-{name}"),
           "ZENML_CONFIG_PATH": str(tmp / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false", "HF_HUB_OFFLINE": "1"}
    stderr = (tmp / f"{name}.stderr").open("w")
    script = tmp / "label_child.py"  # a file, not `-c`: ZenML finds its source root from the main module's file
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(teacher), str(stall_at), str(tmp / f"{name}-result")],
                             env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    return child, json.loads(_line(tmp, child, name, "DIRS"))


def _line(tmp: Path, child: subprocess.Popen, name: str, tag: str) -> str:
    """The rest of the child's first stdout line tagged `tag` (ZenML prints lines of its own)."""
    for line in child.stdout:
        if line.startswith(tag):
            return line[len(tag):].strip()
    raise AssertionError(f"no {tag} line; stderr: " + (tmp / f"{name}.stderr").read_text()[-3000:])


def _finish(tmp: Path, child: subprocess.Popen, name: str) -> dict:
    report = json.loads(_line(tmp, child, name, "DONE"))
    assert child.wait(timeout=600) == 0, (tmp / f"{name}.stderr").read_text()[-3000:]
    return report


def test_sigkill_then_a_new_pod_resumes_from_the_artifact_store_with_every_row_once(tmp_path, tiny_teacher_dir):
    killed, where = _start(tmp_path, tiny_teacher_dir, stall_at=2, name="killed")
    _line(tmp_path, killed, "killed", "STALLED")
    store = Path(where["durable"])
    # the shards are under ZenML's artifact store, not in the pod's cache
    assert str(store).startswith(str(tmp_path / "zenml")) and "/fastdistill/teacher_shards/" in str(store)
    listed = json.loads((store / PROGRESS).read_text())["shards"]
    assert sorted(listed) == ["shard-00000.parquet", "shard-00001.parquet"]
    assert (store / "shard-00002.parquet").is_file()  # stored but unlisted: the worst moment to die
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL

    resumed, again = _start(tmp_path, tiny_teacher_dir, stall_at=-1, name="resumed")
    assert again["durable"] == where["durable"] and again["cache"] != where["cache"]
    report = _finish(tmp_path, resumed, "resumed")
    # only the unlisted rows are labelled again; the listed shards come from the artifact store, none from a cache
    assert report["sources"] == {"0": "artifact store", "1": "artifact store", "2": "generated", "3": "generated"}
    assert report["durable_left"] is False  # a finished job leaves nothing behind

    clean, _ = _start(tmp_path, tiny_teacher_dir, stall_at=-1, name="clean")  # the same job, uninterrupted
    assert set(_finish(tmp_path, clean, "clean")["sources"].values()) == {"generated"}
    a = TeacherOutputs.load(tmp_path / "resumed-result").frame
    b = TeacherOutputs.load(tmp_path / "clean-result").frame
    assert a["id"].tolist() == b["id"].tolist() == [f"r{i}" for i in range(10)]  # every row, once, in order
    for x, y in zip(a.itertuples(), b.itertuples()):
        assert (x.prompt_ids, x.response_ids, x.response_text) == (y.prompt_ids, y.response_ids, y.response_text)
        assert np.array_equal(x.topk_ids, y.topk_ids) and np.array_equal(x.topk_logprobs, y.topk_logprobs)


ROWS = pd.DataFrame({"id": [f"q{i}" for i in range(7)], "split": "train", "category": "c",
                     "prompt": [f"Name a colour, take {i}." for i in range(7)], "reference": None})
CONFIG = TeacherConfig(model="tiny:teacher", top_k=4, max_new_tokens=6, batch_size=4, shard_rows=3)


@pytest.fixture(scope="module")
def backend(tiny_teacher_dir):
    return HFBackend(tiny_teacher_dir)


def _label(backend, store: Path, cache: Path | None) -> tuple[pd.DataFrame, dict]:
    sources = {}
    dirs = ShardDirs(DurableDir(str(store)), DurableDir(str(cache)) if cache else None)
    outputs = label_sharded(backend, ROWS, CONFIG, dirs, on_shard=lambda index, source: sources.__setitem__(index, source))
    return outputs.frame, sources


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a["id"].tolist() == b["id"].tolist() and all(
        x.response_ids == y.response_ids and np.array_equal(x.topk_logprobs, y.topk_logprobs)
        for x, y in zip(a.itertuples(), b.itertuples()))


def test_the_local_cache_is_a_fast_path_checked_against_the_stored_manifest(tmp_path, backend):
    store = tmp_path / "store"
    first, sources = _label(backend, store, tmp_path / "a")
    assert sources == {0: "generated", 1: "generated", 2: "generated"}
    again, sources = _label(backend, store, tmp_path / "a")  # the same pod: nothing is fetched
    assert sources == {0: "local cache", 1: "local cache", 2: "local cache"} and _same(first, again)
    moved, sources = _label(backend, store, tmp_path / "b")  # a new pod
    assert sources == {0: "artifact store", 1: "artifact store", 2: "artifact store"} and _same(first, moved)

    # a local copy whose bytes are not the listed shard's is never used
    shutil.copyfile(tmp_path / "b" / "shard-00000.parquet", tmp_path / "b" / "shard-00001.parquet")
    checked, sources = _label(backend, store, tmp_path / "b")
    assert sources == {0: "local cache", 1: "artifact store", 2: "local cache"} and _same(first, checked)

    # a stored shard that does not match its checksum is labelled again, not trusted
    (store / "shard-00002.parquet").write_bytes(b"not the shard the manifest lists")
    (store / ".shard-00003.parquet.tmp-0000").write_bytes(b"half a shard from a killed upload")
    redone, sources = _label(backend, store, None)
    assert sources == {0: "artifact store", 1: "artifact store", 2: "generated"} and _same(first, redone)


def test_a_shard_stored_but_not_listed_is_labelled_again_never_duplicated(tmp_path, backend):
    store = tmp_path / "store"
    first, _ = _label(backend, store, None)
    progress = json.loads((store / PROGRESS).read_text())
    del progress["shards"]["shard-00001.parquet"]  # the crash came between storing shard 1 and listing it
    (store / PROGRESS).write_text(json.dumps(progress))
    resumed, sources = _label(backend, store, None)
    assert sources == {0: "artifact store", 1: "generated", 2: "artifact store"}
    assert resumed["id"].tolist() == [f"q{i}" for i in range(7)] and _same(first, resumed)


def test_the_job_key_changes_with_everything_that_shapes_the_outputs(tmp_path, backend, tiny_teacher_dir):
    key = lambda rows=ROWS, config=CONFIG, model_dir=tiny_teacher_dir: work_fingerprint(  # noqa: E731
        work_identity(rows, config, backend, model_dir))
    base = key()
    assert key() == base  # stable
    changed_weights = tmp_path / "teacher"
    shutil.copytree(tiny_teacher_dir, changed_weights)
    weights = next(changed_weights.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    other_template = tmp_path / "templated"
    shutil.copytree(tiny_teacher_dir, other_template)
    config_file = other_template / "tokenizer_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "chat_template": "{{ messages }}"}))
    variants = {
        "prompt": key(rows=ROWS.assign(prompt=ROWS["prompt"].str.upper())),
        "reference": key(rows=ROWS.assign(reference="r")),
        "row order": key(rows=ROWS.iloc[::-1]),
        "top_k": key(config=CONFIG.model_copy(update={"top_k": 8})),
        "max_new_tokens": key(config=CONFIG.model_copy(update={"max_new_tokens": 7})),
        "temperature": key(config=CONFIG.model_copy(update={"temperature": 0.5})),
        "backend": key(config=CONFIG.model_copy(update={"backend": "openai", "base_url": "http://x/v1"})),
        "rationales": key(config=CONFIG.model_copy(update={"rationales": True})),
        "shard_rows": key(config=CONFIG.model_copy(update={"shard_rows": 4})),
        "weights": key(model_dir=changed_weights),
        "chat template file": key(model_dir=other_template),
    }
    assert base not in variants.values() and len(set(variants.values())) == len(variants)
