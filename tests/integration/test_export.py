"""Take the student away: `run.py export` writes a standalone Hugging Face folder, and the registered MLflow model
answers a chat request under `mlflow models serve`.

Real parts throughout: a SQLite MLflow store with a version registered by `register_student` (the tiny student
of conftest.py), `run.py` in a subprocess, the exported folder loaded by transformers in a fresh process that
never imports MLflow, and MLflow's own scoring server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from fastdistill.evaluation.scores import EvalMetrics, Scores
from fastdistill.registry.mlflow_registry import register_student
from fastdistill.registry.promotion import Policy

ROOT = Path(__file__).resolve().parents[2]
NAME = "fastdistill-student"
TEACHER = "packaged:smollm2-135m-instruct"
TAGS = {"objective": "fkl", "data_sha256": "d" * 64, "config_sha256": "c" * 64, "zenml_run_name": "distill-run-7",
        "zenml_run_id": "0a1b2c3d-0000-4000-8000-000000000007"}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "TOKENIZERS_PARALLELISM": "false"}


def _evaluation() -> EvalMetrics:
    ids = [f"t{i:02d}" for i in range(12)]
    values = list(0.6 + np.random.default_rng(0).normal(0.0, 0.05, len(ids)))
    scores = Scores(split="test", ids=ids, per_example={"rougeL_vs_teacher": values},
                    aggregates={"perplexity": 12.5})
    return EvalMetrics(scores=scores, teacher=TEACHER, teacher_sha256="t" * 64, test_set_sha256="e" * 64)


@pytest.fixture(scope="module")
def store(tmp_path_factory, student_dir):
    """A SQLite store holding the tiny student as version 1 (champion), registered the way the pipeline does."""
    tmp = tmp_path_factory.mktemp("export-store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("export-test", artifact_location=(tmp / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run() as run:
        registration = register_student(student_dir, name=NAME, evaluation=_evaluation(), tags=TAGS,
                                        policy=Policy("rougeL_vs_teacher", True))
    assert registration.version == "1" and "champion" in registration.aliases
    yield {"uri": uri, "tmp": tmp, "run_id": run.info.run_id, "client": client}
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def exported(store, tmp_path_factory) -> Path:
    """`python run.py export models:/fastdistill-student@champion --output DIR`, as a user runs it."""
    out = tmp_path_factory.mktemp("exports") / "student"
    result = subprocess.run([sys.executable, "run.py", "export", f"models:/{NAME}@champion", "--output", str(out),
                             "--tracking-uri", store["uri"]], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"exported {NAME} v1 to {out}" in " ".join(result.stdout.split())
    return out


LOAD_SCRIPT = r"""
import json, sys
from transformers import AutoModelForCausalLM, AutoTokenizer

folder = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(folder)
tokenizer = AutoTokenizer.from_pretrained(folder)
messages = [{"role": "user", "content": "the cat sat"}]
text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
new = output[0][inputs["input_ids"].shape[1]:].tolist()
print(json.dumps({"chat_text": text, "new_tokens": new, "decoded": tokenizer.decode(new),
                  "eos": model.generation_config.eos_token_id, "pad": model.generation_config.pad_token_id,
                  "mlflow_imported": "mlflow" in sys.modules}))
"""


def test_the_exported_folder_loads_with_transformers_alone_and_generates_in_a_fresh_process(exported, tmp_path):
    result = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(exported)], cwd=tmp_path, env=ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["chat_text"] == "user the cat sat </s> assistant "  # the student's own chat template
    assert len(loaded["new_tokens"]) == 4 and loaded["decoded"].strip()
    assert (loaded["eos"], loaded["pad"]) == (2, 1)
    assert loaded["mlflow_imported"] is False


def test_the_folder_holds_what_vllm_serves_and_the_registered_weights_unchanged(exported, student_dir):
    from safetensors.torch import load_file

    files = {p.name for p in exported.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "README.md"} <= files
    assert not {"MLmodel", "pytorch_model.bin", "requirements.txt"} & files
    assert "auto_map" not in json.loads((exported / "config.json").read_text())  # no custom code
    ours, theirs = load_file(exported / "model.safetensors"), load_file(student_dir / "model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all((ours[k] == theirs[k]).all() for k in ours)
    assert not [p for p in exported.parent.iterdir() if ".partial-" in p.name]  # the temp folder was renamed
    mask = os.umask(0)
    os.umask(mask)
    assert {oct(p.stat().st_mode & 0o777) for p in [exported, *exported.iterdir()]} <= {oct(0o777 & ~mask),
                                                                                        oct(0o666 & ~mask)}


def test_the_model_card_follows_the_hugging_face_convention_and_states_the_registry_facts(exported, store):
    from huggingface_hub import ModelCard

    card = ModelCard.load(exported / "README.md")
    data = card.data
    assert data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the packaged teacher's origin
    assert (data.library_name, data.pipeline_tag) == ("transformers", "text-generation")
    assert {"fastdistill", "distillation", "fkl"} <= set(data.tags)
    ours = data.to_dict()["fastdistill"]
    assert ours["data_sha256"] == "d" * 64 and ours["test_set_sha256"] == "e" * 64
    assert (ours["teacher"], ours["objective"], ours["version"], ours["aliases"]) == (TEACHER, "fkl", "1",
                                                                                      ["challenger", "champion"])
    assert ours["mlflow_run_id"] == store["run_id"]
    estimate = _evaluation().scores.estimate("rougeL_vs_teacher")
    results = {r.metric_type: r for r in data.eval_results}
    assert results["rougeL_vs_teacher"].metric_value == pytest.approx(estimate.value)
    assert results["rougeL_vs_teacher"].dataset_split == "test"
    body = " ".join(card.text.split())
    row = (f"| quality | rougeL_vs_teacher | {estimate.value:.4g} | [{estimate.ci_low:.4g}, {estimate.ci_high:.4g}] | "
           "12 |")
    assert row in body
    assert "| other | perplexity | 12.5 | – | 12 |" in body  # an aggregate: no interval
    assert "only 12 examples" in body and "fkl`: forward KL" in body
    assert "version 1 of `fastdistill-student`" in body and "distill-run-7" in body


def test_a_runs_uri_exports_too_with_the_facts_of_its_registration(store, tmp_path):
    from fastdistill.registry.export import export_student

    result = export_student(f"runs:/{store['run_id']}/student", tmp_path / "from-run")
    assert result.card.objective == "fkl" and result.card.teacher == TEACHER
    assert [m.name for m in result.card.metrics] == ["rougeL_vs_teacher", "perplexity"]
    assert (tmp_path / "from-run" / "model.safetensors").is_file()


def _export(*args: str):
    """`run.py export ARGS` in-process; it sets MLflow's global tracking URI, which is put back afterwards."""
    from fastdistill.cli import cli

    before = mlflow.get_tracking_uri()
    try:
        return CliRunner().invoke(cli, ["export", *args])
    finally:
        mlflow.set_tracking_uri(before)


@pytest.mark.parametrize(("uri", "expected"), [
    (f"models:/{NAME}@nope", f"models:/{NAME}@nope: {NAME} has no alias 'nope'; its aliases: challenger -> v1, "
                             "champion -> v1"),
    (f"models:/{NAME}/7", f"models:/{NAME}/7: {NAME} has no version 7; its versions: 1"),
    ("models:/no-such-model@champion", "models:/no-such-model@champion: there is no registered model "
                                       f"'no-such-model'; registered models: {NAME}"),
    ("runs:/0123456789abcdef/student", "runs:/0123456789abcdef/student: there is no run 0123456789abcdef"),
    ("student-v1", "student-v1: not a model URI; use models:/NAME@ALIAS"),
])
def test_a_uri_that_names_nothing_exits_2_in_one_line_and_writes_nothing(store, tmp_path, uri, expected):
    out = tmp_path / "new" / "student"
    result = _export(uri, "--output", str(out), "--tracking-uri", store["uri"])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, result.output
    assert list(tmp_path.iterdir()) == []  # not even the parent folder


def test_a_run_without_that_artifact_is_named(store, tmp_path):
    uri = f"runs:/{store['run_id']}/elsewhere"
    result = _export(uri, "--output", str(tmp_path / "s"), "--tracking-uri", store["uri"])
    assert result.exit_code == 2
    assert f"{uri}: holds no MLflow model" in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_that_is_not_empty_is_refused_and_left_as_it_was(store, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _export(f"models:/{NAME}@champion", "--output", str(out), "--tracking-uri", store["uri"])
    assert result.exit_code == 2
    assert f"--output {out} exists and is not empty" in " ".join(result.output.split())
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_store_that_does_not_exist_is_named_and_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    result = _export(f"models:/{NAME}@champion", "--output", str(tmp_path / "s"), "--tracking-uri", uri)
    assert result.exit_code == 2
    assert f"the MLflow store {uri} does not exist" in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_neither_the_folder_nor_the_parents_it_made(store, student_dir, tmp_path):
    """A real failure after the checks: the version's weights were deleted from the artifact store."""
    mlflow.set_tracking_uri(store["uri"])
    with mlflow.start_run():
        broken = register_student(student_dir, name="fastdistill-broken", evaluation=_evaluation(), tags=TAGS,
                                  policy=Policy("rougeL_vs_teacher", True))
    source = store["client"].get_model_version("fastdistill-broken", broken.version).source  # models:/m-<id>
    weights = next((store["tmp"] / "artifacts").glob(f"models/{source.removeprefix('models:/')}/**/model.safetensors"))
    weights.unlink()
    out = tmp_path / "a" / "b" / "student"
    result = _export("models:/fastdistill-broken@champion", "--output", str(out), "--tracking-uri", store["uri"])
    assert result.exit_code == 2, result.output
    assert "models:/fastdistill-broken@champion: MLflow could not load it" in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def served(store, tmp_path):
    """`mlflow models serve -m models:/fastdistill-student@champion --env-manager local` on a free loopback port.

    `--env-manager local` installs nothing: it serves from this interpreter, whose bin/ (uvicorn) goes on PATH.
    """
    port = _free_port()
    env = {**ENV, "MLFLOW_TRACKING_URI": store["uri"],
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}@champion",
                               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a bound on start-up (loading MLflow and the model), not a measurement
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"mlflow models serve exited with {server.returncode}: "
                            + (tmp_path / "serve.log").read_text()[-3000:])
            try:
                if requests.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(1)
        else:
            pytest.fail("mlflow models serve did not answer /ping: " + (tmp_path / "serve.log").read_text()[-3000:])
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the uvicorn it starts
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_the_registered_model_answers_a_chat_request_under_mlflow_models_serve(served, store):
    mlflow.set_tracking_uri(store["uri"])
    flavor = mlflow.models.get_model_info(f"models:/{NAME}/1").flavors["transformers"]
    assert flavor["inference_task"] == "llm/v1/chat"
    response = requests.post(f"{served}/invocations", timeout=120, json={
        "messages": [{"role": "user", "content": "the cat sat on the mat"}], "max_tokens": 6})
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert answer["object"] == "chat.completion"
    message = answer["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"].strip()
    assert answer["usage"]["completion_tokens"] >= 1
