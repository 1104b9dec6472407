"""End to end: `run.py distill --config configs/tiny.yaml` in a fresh copy of the project.

Real ZenML (local orchestrator, its own config dir), real MLflow (SQLite store)
and real training; the models are tiny and built in-process, so nothing is
downloaded. The project is copied to a temp dir so the run cannot touch the
developer's ZenML repository or MLflow store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import copy_project

NAME = "fastdistill-tiny"  # configs/tiny.yaml's registry.model_name: never the quickstart's
pytestmark = pytest.mark.e2e


def _run(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )


def project_env(project: Path, model_cache_dir: Path) -> dict:
    """The environment every e2e run uses: its own ZenML config in the copied project, the shared model cache,
    no telemetry, no hub, and the project's own MLflow store (not a tracking URI from the caller).
    Temporary files go to the project's `.tmp`, so a test can see what a run leaves behind."""
    (project / ".tmp").mkdir(exist_ok=True)
    env = {**os.environ, "ZENML_CONFIG_PATH": str(project / ".zenml-global"), "FASTDISTILL_CACHE": str(model_cache_dir),
           "ZENML_ANALYTICS_OPT_IN": "false", "HF_HUB_OFFLINE": "1", "TMPDIR": str(project / ".tmp")}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, model_cache_dir):
    project = copy_project(tmp_path_factory.mktemp("project"))
    env = project_env(project, model_cache_dir)
    first = _run(project, env, "distill", "--config", "configs/tiny.yaml", "--report-dir", "reports")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-8000:]
    return project, env, first


def _tracking_uri(project: Path) -> str:
    return f"sqlite:///{project / '.fastdistill' / 'mlflow' / 'mlflow.db'}"


def test_zenml_run_completed_with_every_step(tiny_run):
    project, env, _ = tiny_run
    script = (
        "from zenml.client import Client\n"
        "run = Client().get_pipeline(name_id_or_prefix='distill').last_run\n"
        "print(run.status.value, sorted(run.steps))\n"
        "print(run.steps['train_student_sft'].outputs['student_model'][0].type.value,"
        " run.steps['select_best'].outputs['best_student'][0].type.value)\n"
        "summary = run.steps['build_report'].outputs['run_summary'][0].load()\n"
        "metrics = run.steps['evaluate'].outputs['eval_metrics'][0].load()\n"
        "print(type(summary).__name__, summary.metrics == metrics.values, type(metrics).__name__,"
        " [t['trial'] for t in summary.sweep_results], summary.registration['version'], summary.data_quality['rows_in'] > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    first, types, summary = out.stdout.strip().splitlines()[-3:]
    status, steps = first.split(" ", 1)
    assert status == "completed"
    for step in ("load_seeds", "synthesize", "quality_gate", "teacher_inference", "train_student_sft",
                 "train_student_fkl", "select_best", "evaluate", "register_student", "build_report"):
        assert step in steps
    assert types == "ModelArtifact ModelArtifact"  # the trained students are model artifacts
    # the run summary is build_report's typed output, the one the CLI printed
    assert summary == "RunSummary True EvalMetrics ['sft', 'fkl'] 1 True"


def test_trials_leave_no_model_copies_in_the_temp_dir(tiny_run):
    project, _, _ = tiny_run
    # Each trial's weights are in the artifact store; a scratch copy per trial used to pile up in /tmp.
    leftovers = sorted(p.name for p in (project / ".tmp").glob("fastdistill-*"))
    assert leftovers == []


def test_teacher_shards_were_kept_in_the_artifact_store_and_cleared_once_stored(tiny_run):
    project, env, _ = tiny_run
    script = (
        "import json, os\n"
        "from zenml.client import Client\n"
        "step = Client().get_pipeline(name_id_or_prefix='distill').last_run.steps['teacher_inference']\n"
        "where = step.run_metadata['shards_dir']\n"
        "print(json.dumps([where.startswith(Client().active_stack.artifact_store.path),"
        " step.run_metadata['shards'], os.path.exists(where)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    inside, sources, left = json.loads(out.stdout.strip().splitlines()[-1])
    # every shard labelled by this run, kept under the artifact store while it ran, gone once the output was stored
    assert inside and set(sources) == {"generated"} and sources["generated"] >= 1 and not left


def _parent_and_trials(project: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(_tracking_uri(project))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags and "test/rougeL_vs_teacher" in r.data.metrics]
    assert len(parents) == 1
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return client, parents[0], trials


def test_mlflow_holds_a_run_with_evaluation_metrics(tiny_run):
    project, _, _ = tiny_run
    _, parent, _ = _parent_and_trials(project)
    metrics = parent.data.metrics
    for name in ("rougeL_vs_reference", "teacher_forced_kl", "top1_agreement", "student_tokens_per_s"):
        assert f"test/{name}" in metrics  # every figure says its split
    for name in ("rougeL_vs_reference", "teacher_forced_kl", "top1_agreement"):  # per-example: n and a CI
        low, value, high = (metrics[f"test/{name}{suffix}"] for suffix in ("_ci_low", "", "_ci_high"))
        assert low <= value <= high and metrics[f"test/{name}_n"] >= 2
    assert 0.0 <= metrics["test/rougeL_vs_teacher"] <= 1.0
    assert metrics["test/teacher_forced_kl"] >= 0.0
    assert metrics["test/student_tokens_per_s"] > 0.0
    assert parent.data.tags["fastdistill.eval_split"] == "test"


def test_sweep_trials_are_child_runs_and_the_best_one_is_registered(tiny_run):
    project, _, _ = tiny_run
    client, _, trials = _parent_and_trials(project)
    assert sorted(r.data.tags["fastdistill.trial"] for r in trials) == ["fkl", "sft"]
    for run in trials:
        assert run.data.params["training.objective"] == run.data.tags["fastdistill.trial"]
        assert len(client.get_metric_history(run.info.run_id, "train/loss")) >= 1
        assert run.data.metrics["validation/teacher_forced_kl"] > 0.0  # trials are scored on validation only
        assert not any(k.startswith("test/") for k in run.data.metrics)
    # configs/tiny.yaml picks by teacher_forced_kl, lower is better (a tie within noise goes to sft, the simplest)
    best = min(trials, key=lambda r: r.data.metrics["validation/teacher_forced_kl"])
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert champion.tags["objective"] in (best.data.tags["fastdistill.trial"], "sft")
    kd_trial = next(r for r in trials if r.data.tags["fastdistill.trial"] == "fkl")
    assert len(client.get_metric_history(kd_trial.info.run_id, "train/kd_loss")) >= 1


def test_registry_has_challenger_and_champion_and_model_generates(tiny_run):
    from mlflow.tracking import MlflowClient

    project, _, _ = tiny_run
    uri = _tracking_uri(project)
    client = MlflowClient(uri)
    challenger = client.get_model_version_by_alias(NAME, "challenger")
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert str(challenger.version) == str(champion.version) == "1"
    assert challenger.tags["teacher"] == "tiny:teacher"
    assert challenger.tags["objective"] in ("sft", "fkl")

    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        components = mlflow.transformers.load_model(f"models:/{NAME}@champion", return_type="components")
    finally:
        mlflow.set_tracking_uri(None)
    model, tokenizer = components["model"], components["tokenizer"]
    assert model.config.num_hidden_layers == 2  # the layer-selected student, not the 4-layer teacher
    ids = tokenizer("Name a color.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5
    assert isinstance(tokenizer.decode(out[0, ids["input_ids"].shape[1]:]), str)


def test_summary_and_report_are_written(tiny_run):
    project, _, first = tiny_run
    assert "rougeL_vs_teacher" in first.stdout
    assert "mlflow ui --backend-store-uri" in first.stdout
    reports = list((project / "reports").glob("*.html"))
    assert len(reports) == 1
    page = reports[0].read_text()
    assert '<div class="figure" data-figure="sweep"><svg' in page and "rougeL_vs_reference" in page
    assert "How far to trust this" in page and "errorbar-sweep-0" in page
    assert "Data quality gate" in page and "<td>rows_kept</td>" in page and "<td>rejected/" in page
    assert "data: rows_in " in first.stdout


def test_invalid_config_fails_before_any_step(tiny_run, tmp_path):
    project, env, _ = tiny_run
    bad = tmp_path / "bad.yaml"
    text = (project / "configs" / "tiny.yaml").read_text().replace("ce_weight", "ce_wieght")
    bad.write_text(text.replace("learning_rate: 1.0e-3", "learning_rate: 1.0e-3\n    ce_wieght: 0.5"))
    out = _run(project, env, "distill", "--config", str(bad))
    assert out.returncode == 2
    assert "training.ce_wieght: unknown key" in out.stdout


def test_a_run_differing_only_in_the_training_seed_stays_challenger(tiny_run, tmp_path):
    """Noise must not promote: a second student that differs only by its training seed is held, and the
    reason names the CI."""
    from mlflow.tracking import MlflowClient

    project, env, _ = tiny_run
    reseeded = tmp_path / "reseeded.yaml"
    text = (project / "configs" / "tiny.yaml").read_text()
    assert "    seed:" not in text.split("training:")[1].split("evaluation:")[0]
    reseeded.write_text(text.replace("    learning_rate: 1.0e-3\n", "    learning_rate: 1.0e-3\n    seed: 1\n", 1))
    second = _run(project, env, "distill", "--config", str(reseeded), "--report-dir", "reports")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    client = MlflowClient(_tracking_uri(project))
    aliases = {a: str(v) for a, v in client.get_registered_model(NAME).aliases.items()}
    assert aliases == {"challenger": "2", "champion": "1"}
    tags = client.get_model_version(NAME, "2").tags
    assert tags["promotion.decision"] == "hold"
    assert "paired 95% CI" in tags["promotion.reason"] and "does not exceed min_delta" in tags["promotion.reason"]
    assert tags["test_set_sha256"] == client.get_model_version(NAME, "1").tags["test_set_sha256"]  # like with like
    assert f"registered {NAME} version 2 aliases ['challenger'] (hold)" in second.stdout


WIRING = """
import json
from zenml.client import Client
runs = Client().list_pipeline_runs(pipeline='distill', sort_by='asc:created', size=1, status='completed')
run = Client().get_pipeline_run(runs.items[0].id)
frame = run.steps['teacher_inference'].outputs['teacher_outputs'][0].load().frame
splits = {s: sorted(frame.loc[frame['split'] == s, 'id']) for s in ('train', 'validation', 'test')}
trials = [run.steps[n].outputs['trial_result'][0].load() for n in run.steps if n.startswith('train_student_')]
selection = run.steps['select_best'].outputs['sweep_selection'][0].load()
evaluation = run.steps['evaluate'].outputs['eval_metrics'][0].load()
print(json.dumps({'splits': splits, 'trained_on': [t.train_ids for t in trials],
                  'trial_scored_on': [t.scores.ids for t in trials], 'trial_split': [t.scores.split for t in trials],
                  'selected_on': selection.split, 'evaluated_on': evaluation.scores.ids,
                  'evaluated_split': evaluation.split}))
"""


def test_wiring_validation_never_reaches_evaluation_and_test_never_reaches_training_or_selection(tiny_run):
    """By id sets, read back from the first run's artifacts."""
    project, env, _ = tiny_run
    out = subprocess.run([sys.executable, "-c", WIRING], cwd=project, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    w = json.loads(out.stdout.strip().splitlines()[-1])
    train, validation, test = (set(w["splits"][s]) for s in ("train", "validation", "test"))
    assert train and validation and test and not (train & validation) and not (train & test) and not (validation & test)
    for trained_on, scored_on in zip(w["trained_on"], w["trial_scored_on"]):
        assert set(trained_on) <= train  # training sees train rows only
        assert set(scored_on) <= validation and set(scored_on)  # select_best sees validation scores only
    assert w["trial_split"] == ["validation"] * len(w["trained_on"]) and w["selected_on"] == "validation"
    assert set(w["evaluated_on"]) <= test and w["evaluated_split"] == "test"  # evaluation and the gate: test only


def test_failed_gate_stops_before_the_teacher_and_registers_nothing(tiny_run, tmp_path):
    from mlflow.tracking import MlflowClient

    project, env, _ = tiny_run
    client = MlflowClient(_tracking_uri(project))
    versions_before = len(client.search_model_versions(f"name='{NAME}'"))
    strict = tmp_path / "strict.yaml"
    strict.write_text((project / "configs" / "tiny.yaml").read_text().replace("min_rows: 10", "min_rows: 1000"))
    out = _run(project, env, "distill", "--config", str(strict))
    assert out.returncode == 1
    assert "step quality_gate failed" in out.stdout and "train rows >= min_rows (1000): observed" in out.stdout
    assert len(client.search_model_versions(f"name='{NAME}'")) == versions_before
    script = (
        "from zenml.client import Client\n"
        "run = Client().get_pipeline(name_id_or_prefix='distill').last_run\n"
        "print(run.steps['quality_gate'].status.value, 'teacher_inference' in run.steps and run.steps['teacher_inference'].status.value)\n"
        "q = Client().get_artifact_version('quarantine').load()\n"
        "print(len(q), q['reasons'].notna().all())\n"
        "print(run.name)\n"
    )
    check = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-3000:]
    status_line, quarantine_line, run_name = check.stdout.strip().splitlines()[-3:]
    assert status_line.split()[0] == "failed" and "completed" not in status_line
    assert quarantine_line.split()[1] == "True"
    # the failed run has no report to regenerate: `report` says so with the real failure
    report = _run(project, env, "report", run_name)
    assert report.returncode == 1, report.stderr[-3000:]
    text = " ".join(report.stdout.split())
    assert f"error: run {run_name} has no run_summary from step build_report: step quality_gate failed" in text
    assert "train rows >= min_rows (1000): observed" in text
