"""The local ZenML + MLflow stack and the registry's promotion logic, against real stores in tmp dirs.

The ZenML part runs in a subprocess: ZenML reads `ZENML_CONFIG_PATH` when it
is imported, and the test must never touch the user's ~/.config/zenml. The
registry part needs no ZenML: an MLflow server on PostgreSQL, as on the
cluster, and a tiny Llama (the fixtures in conftest.py, shared with
test_registry_crash.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from fastdistill.evaluation.scores import EvalMetrics, Scores
from fastdistill.registry.mlflow_registry import register_student
from fastdistill.registry.promotion import Policy

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- stack

STACK_SCRIPT = r"""
import json, sys, time
from pathlib import Path

t0 = time.perf_counter()
import mlflow
from zenml import pipeline, step
from zenml.client import Client
from zenml.enums import StackComponentType as T
from fastdistill.infra.local_stack import ensure_local_stack

project, other_uri = Path(sys.argv[1]), sys.argv[2]
client = Client()


def snapshot():
    stack = client.get_stack("fastdistill_local", allow_name_prefix_match=False)
    tracker = client.get_stack_component(T.EXPERIMENT_TRACKER, "fastdistill_mlflow_tracker")
    registry = client.get_stack_component(T.MODEL_REGISTRY, "fastdistill_mlflow_registry")
    return {"stack_updated": str(stack.updated), "tracker_updated": str(tracker.updated),
            "registry_updated": str(registry.updated), "tracker_config": tracker.configuration,
            "components": {k.value: [c.name for c in v] for k, v in stack.components.items()},
            "trackers": client.list_stack_components(type=T.EXPERIMENT_TRACKER).total,
            "registries": client.list_stack_components(type=T.MODEL_REGISTRY).total,
            "stacks": client.list_stacks(name="fastdistill_local").total,
            "active": client.active_stack_model.name, "root": str(client.root)}


t1 = time.perf_counter()
first = ensure_local_stack(project)
after_first = snapshot()
t2 = time.perf_counter()
second = ensure_local_stack(project)
after_second = snapshot()
t3 = time.perf_counter()


@step(experiment_tracker=first.tracker_name)
def train() -> str:
    mlflow.log_metric("x", 1.5)
    mlflow.log_param("objective", "forward_kl")
    mlflow.log_text("hello", "notes/hello.txt")
    return mlflow.active_run().info.run_id


@step(experiment_tracker=first.tracker_name)
def evaluate(train_run_id: str) -> str:
    mlflow.log_metric("y", 2.5)
    return mlflow.active_run().info.run_id


@pipeline(enable_cache=False)
def tiny_tracked():
    evaluate(train())


run = tiny_tracked()
t4 = time.perf_counter()
run = client.get_pipeline_run(run.id)
steps = {name: {"run_id": s.outputs["output"][0].load(), "metadata_run_id": s.run_metadata.get("mlflow_run_id")}
         for name, s in run.steps.items()}
moved = ensure_local_stack(project, other_uri)
moved_config = snapshot()["tracker_config"]
back = ensure_local_stack(project)
print(json.dumps({
    "first": first.__dict__, "same": first == second == back, "after_first": after_first,
    "after_second": after_second, "moved": moved.tracking_uri, "moved_config": moved_config,
    "back_config": snapshot()["tracker_config"], "run_name": run.name, "status": run.status.value,
    "steps": steps, "seconds": {"import": t1 - t0, "first_call": t2 - t1, "second_call": t3 - t2,
                                "pipeline_run": t4 - t3},
}))
"""


@pytest.fixture(scope="module")
def stack_run(tmp_path_factory) -> dict:
    """Bootstrap twice, run a two-step tracked pipeline, re-point and restore the tracker: one subprocess."""
    tmp = tmp_path_factory.mktemp("stack")
    project, cwd = tmp / "project", tmp / "elsewhere"
    project.mkdir()
    cwd.mkdir()
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp / "zenml-config"), "ZENML_ANALYTICS_OPT_IN": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("ZENML_REPOSITORY_PATH", None)
    other_uri = f"sqlite:///{tmp / 'other' / 'mlflow.db'}"
    (tmp / "other").mkdir()
    script = project / "tiny_pipeline.py"  # a file: ZenML resolves step sources from the main module's path
    script.write_text(STACK_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(project), other_uri], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:] + out.stdout[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(tmp=tmp, project=project, cwd=cwd, other_uri=other_uri, log=out.stdout + out.stderr)
    return result


def test_bootstrap_creates_the_stack_once_and_points_mlflow_into_the_project(stack_run):
    project = stack_run["project"]
    db = project / ".fastdistill" / "mlflow" / "mlflow.db"
    assert stack_run["first"] == {"stack_name": "fastdistill_local", "tracker_name": "fastdistill_mlflow_tracker",
                                  "registry_name": "fastdistill_mlflow_registry", "tracking_uri": f"sqlite:///{db}"}
    assert db.is_file() and (project / ".zen").is_dir()
    snap = stack_run["after_first"]
    assert snap["active"] == "fastdistill_local" and snap["root"] == str(project)
    assert snap["components"] == {"orchestrator": ["default"], "artifact_store": ["default"],
                                  "experiment_tracker": ["fastdistill_mlflow_tracker"],
                                  "model_registry": ["fastdistill_mlflow_registry"]}
    assert snap["tracker_config"] == {"tracking_uri": f"sqlite:///{db}", "experiment_name": "fastdistill"}
    assert (snap["trackers"], snap["registries"], snap["stacks"]) == (1, 1, 1)


def test_second_bootstrap_changes_nothing(stack_run):
    assert stack_run["same"]
    assert stack_run["after_second"] == stack_run["after_first"]  # same counts, configs and `updated` stamps


def test_another_tracking_uri_updates_the_tracker_in_place(stack_run):
    assert stack_run["moved"] == stack_run["other_uri"]
    assert stack_run["moved_config"]["tracking_uri"] == stack_run["other_uri"]
    assert stack_run["back_config"]["tracking_uri"] == stack_run["first"]["tracking_uri"]
    other = MlflowClient(stack_run["other_uri"]).get_experiment_by_name("fastdistill")
    assert other.artifact_location == (stack_run["tmp"] / "other" / "artifacts").as_uri()


def test_tracked_steps_share_one_mlflow_run_named_after_the_pipeline_run(stack_run):
    assert stack_run["status"] == "completed"
    steps = stack_run["steps"]
    assert steps["train"]["run_id"] == steps["evaluate"]["run_id"] == steps["train"]["metadata_run_id"]
    client = MlflowClient(stack_run["first"]["tracking_uri"])
    experiment = client.get_experiment_by_name("fastdistill")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_id == steps["train"]["run_id"] and run.info.run_name == stack_run["run_name"]
    assert run.info.status == "FINISHED"
    assert (run.data.metrics, run.data.params) == ({"x": 1.5, "y": 2.5}, {"objective": "forward_kl"})
    assert run.data.tags["zenml"]  # ZenML's marker tag: its value is the ZenML version


def test_run_artifacts_stay_inside_the_project(stack_run):
    artifacts = stack_run["project"] / ".fastdistill" / "mlflow" / "artifacts"
    run_id = stack_run["steps"]["train"]["run_id"]
    assert (artifacts / run_id / "artifacts" / "notes" / "hello.txt").read_text() == "hello"
    assert not (stack_run["cwd"] / "mlruns").exists()  # MLflow's cwd default for SQLite stores
    assert "Failed to disable MLflow autologging" not in stack_run["log"]


REMOTE_SCRIPT = r"""
import json, sys
from pathlib import Path
from zenml.client import Client
from zenml.enums import StackComponentType as T
from fastdistill.infra.local_stack import LOCAL_SECRET, TRACKER_NAME, ensure_local_stack

info = ensure_local_stack(Path(sys.argv[1]), "http://127.0.0.1:5999")  # configured only: nothing connects
tracker = Client().get_stack_component(T.EXPERIMENT_TRACKER, TRACKER_NAME)
secret = Client().get_secret(LOCAL_SECRET, allow_partial_name_match=False, allow_partial_id_match=False)
print(json.dumps({"uri": info.tracking_uri, "config": {k: v for k, v in tracker.configuration.items() if v},
                  "secret": secret.secret_values}))
"""


def test_a_remote_tracking_server_gets_the_credentials_from_mlflows_variables_as_secret_references(tmp_path):
    """ZenML's tracker refuses an http(s) URI without credentials; they come from MLFLOW_TRACKING_USERNAME /
    MLFLOW_TRACKING_PASSWORD and stay in a ZenML secret, never in the component's configuration."""
    project = tmp_path / "project"
    project.mkdir()
    script = project / "remote.py"
    script.write_text(REMOTE_SCRIPT)
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml-config"), "ZENML_ANALYTICS_OPT_IN": "false",
           "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret"}
    out = subprocess.run([sys.executable, str(script), str(project)], env=env, cwd=project, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["uri"] == "http://127.0.0.1:5999"
    assert result["config"]["tracking_username"] == "{{fastdistill_mlflow_local.username}}"
    assert result["config"]["tracking_password"] == "{{fastdistill_mlflow_local.password}}"
    assert "s3cret" not in json.dumps(result["config"])
    assert result["secret"] == {"username": "alice", "password": "s3cret"}


# -------------------------------------------------------------------------- registry

NAME = "fastdistill-student"
TEST_IDS = [f"t{i:02d}" for i in range(40)]


def _evaluation(mean: float, *, metric="rougeL_vs_teacher", spread=0.02, seed=0, teacher="tiny:teacher",
                test_set="test-set-A", ids=TEST_IDS) -> EvalMetrics:
    """Per-example scores on 40 test prompts around `mean`; the same seed gives the same per-prompt pattern,
    so two evaluations that differ in `mean` differ consistently on every prompt."""
    noise = np.random.default_rng(seed).normal(0.0, spread, len(ids))
    scores = Scores(split="test", ids=list(ids), per_example={metric: list(mean + noise)},
                    aggregates={"ppl": 12.0, "eval_examples": float(len(ids))})
    return EvalMetrics(scores=scores, teacher=teacher, teacher_sha256=f"sha-{teacher}", test_set_sha256=test_set)


def _register(model_dir: Path, score: float | EvalMetrics, *, metric="rougeL_vs_teacher", greater_is_better=True,
              min_delta=0.0, rescore=None, allow_teacher_change=False):
    evaluation = score if isinstance(score, EvalMetrics) else _evaluation(score, metric=metric)
    with mlflow.start_run():
        return register_student(model_dir, name=NAME, evaluation=evaluation,
                                tags={"objective": "forward_kl"},
                                policy=Policy(metric, greater_is_better, min_delta),
                                allow_teacher_change=allow_teacher_change, rescore=rescore)


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(NAME).aliases.items()}


def _versions(client: MlflowClient) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{NAME}'"))


def test_champion_moves_only_to_a_better_challenger_and_loads_back(registry, student_dir):
    first = _register(student_dir, 0.30)
    assert (first.version, first.aliases, first.promoted) == ("1", ["challenger", "champion"], True)
    assert first.reason == "there is no champion yet: promoted with test rougeL_vs_teacher = 0.2988 [0.2937, 0.3035] n=40"
    assert first.model_uri == f"models:/{NAME}/1"

    worse = _register(student_dir, 0.20)
    assert (worse.version, worse.aliases, worse.promoted) == ("2", ["challenger"], False)
    assert "the lower bound of its paired 95% CI (-0.1000) does not exceed min_delta 0.0" in worse.reason
    assert _aliases(registry) == {"challenger": "2", "champion": "1"}

    better = _register(student_dir, 0.40)
    assert (better.version, better.aliases, better.promoted) == ("3", ["challenger", "champion"], True)
    assert "rougeL_vs_teacher beats the champion: difference 0.1000 [0.1000, 0.1000] n=40 paired on the same test " \
           "prompts" in better.reason
    assert _aliases(registry) == {"challenger": "3", "champion": "3", "previous-champion": "1"}
    tags = registry.get_model_version(NAME, "3").tags
    assert (tags["teacher"], tags["objective"], tags["test_set_sha256"]) == ("tiny:teacher", "forward_kl", "test-set-A")
    assert tags["metric.rougeL_vs_teacher"] == "0.39879111401365946" and tags["ci.rougeL_vs_teacher"].endswith("n=40")
    assert tags["eval_split"] == "test" and tags["test_examples"] == "40"

    from transformers import AutoModelForCausalLM, AutoTokenizer

    components = mlflow.transformers.load_model(f"models:/{NAME}@champion", return_type="components")
    model, tokenizer = components["model"], components["tokenizer"]
    original = AutoModelForCausalLM.from_pretrained(student_dir)
    prompt = AutoTokenizer.from_pretrained(student_dir)("the cat sat on", return_tensors="pt")
    assert tokenizer("the cat sat on")["input_ids"] == prompt["input_ids"][0].tolist() == [3, 5, 7, 8]
    greedy = dict(max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=1)
    loaded_ids, original_ids = model.generate(**prompt, **greedy), original.generate(**prompt, **greedy)
    assert loaded_ids.shape == (1, 4 + 5)
    assert torch.equal(loaded_ids, original_ids)  # the registered weights are the student's, bit for bit


def test_ahead_by_more_than_min_delta_on_the_point_estimate_but_within_noise_is_held(registry, student_dir):
    _register(student_dir, _evaluation(0.30, spread=0.15, seed=1))
    noisy = _register(student_dir, _evaluation(0.33, spread=0.15, seed=2), min_delta=0.01)  # other per-prompt noise
    assert not noisy.promoted and noisy.aliases == ["challenger"]
    assert "paired 95% CI" in noisy.reason and "does not exceed min_delta 0.01" in noisy.reason
    assert _aliases(registry) == {"challenger": "2", "champion": "1"}


def test_lower_is_better_and_min_delta_is_a_strict_margin(registry, student_dir):
    _register(student_dir, 2.50, metric="teacher_forced_kl", greater_is_better=False)
    near = _register(student_dir, 2.45, metric="teacher_forced_kl", greater_is_better=False, min_delta=0.05)
    assert not near.promoted and "does not exceed min_delta 0.05" in near.reason
    clear = _register(student_dir, 2.40, metric="teacher_forced_kl", greater_is_better=False, min_delta=0.05)
    assert clear.promoted and "(lower is better)" in clear.reason
    assert _aliases(registry) == {"challenger": "3", "champion": "3", "previous-champion": "1"}


def test_a_challenger_of_another_teacher_does_not_take_champion(registry, student_dir):
    _register(student_dir, 0.30)
    other = _register(student_dir, _evaluation(0.90, teacher="tiny:other-teacher"))
    assert not other.promoted and other.decision == "hold"
    assert "teacher" in other.reason and "tiny:other-teacher" in other.reason
    assert _aliases(registry) == {"challenger": "2", "champion": "1"}
    allowed = _register(student_dir, _evaluation(0.90, teacher="tiny:other-teacher"), allow_teacher_change=True)
    assert allowed.promoted  # registry.allow_teacher_change: true compares them anyway


def test_a_champion_scored_on_another_test_set_is_rescored_or_the_decision_is_held(registry, student_dir):
    _register(student_dir, 0.30)  # scored on test-set-A
    elsewhere = _evaluation(0.90, test_set="test-set-B", ids=[f"b{i}" for i in range(40)])
    held = _register(student_dir, elsewhere)
    assert not held.promoted and held.decision == "hold"
    assert "test set" in held.reason
    assert _aliases(registry) == {"challenger": "2", "champion": "1"}

    asked = []

    def rescore(uri: str) -> EvalMetrics:  # the champion's scores on the challenger's test set
        asked.append(uri)
        return _evaluation(0.30, test_set="test-set-B", ids=[f"b{i}" for i in range(40)])

    rescored = _register(student_dir, elsewhere, rescore=rescore)
    assert asked == [f"models:/{NAME}/1"]
    assert rescored.promoted and "the champion v1 was re-scored on this test set" in rescored.reason


def test_missing_metric_fails_before_anything_is_logged(registry, student_dir):
    with mlflow.start_run() as run, pytest.raises(ValueError) as err:
        register_student(student_dir, name=NAME, evaluation=_evaluation(0.1), tags={}, policy=Policy("bleu", True))
    assert str(err.value) == ("registry.metric 'bleu' was not measured; available: "
                              "['eval_examples', 'ppl', 'rougeL_vs_teacher']")
    assert registry.search_registered_models() == []
    assert mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list") == []


def _fail_on_alias(monkeypatch, failing_alias: str) -> None:
    """Make setting one alias fail, as a registry that goes away halfway through would."""
    real = MlflowClient.set_registered_model_alias

    def flaky(self, name, alias, version):
        if alias == failing_alias:
            raise MlflowException(f"registry unavailable while setting {alias}")
        return real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", flaky)


def test_failure_after_the_version_exists_restores_the_registry_exactly(registry, student_dir, monkeypatch):
    _register(student_dir, 0.30)
    _register(student_dir, 0.20)
    before = _aliases(registry)
    assert before == {"challenger": "2", "champion": "1"}
    _fail_on_alias(monkeypatch, "champion")  # challenger and previous-champion are already set by then
    with pytest.raises(MlflowException, match="registry unavailable while setting champion"):
        _register(student_dir, 0.90)
    monkeypatch.undo()
    assert _versions(registry) == ["1", "2"]
    assert _aliases(registry) == before


def test_failed_first_registration_leaves_no_registered_model(registry, student_dir, monkeypatch):
    _fail_on_alias(monkeypatch, "challenger")
    with pytest.raises(MlflowException, match="registry unavailable while setting challenger"):
        _register(student_dir, 0.30)
    monkeypatch.undo()
    assert registry.search_registered_models() == []
