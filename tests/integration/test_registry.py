"""Registry promotion on a real MLflow SQLite store with a tiny in-process model."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from fastdistill.registry import register_student

NAME = "fastdistill-student"


@pytest.fixture()
def tracking(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    yield MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def _register(model_dir, score, **kwargs):
    with mlflow.start_run():
        return register_student(model_dir, name=NAME, metrics={"rougeL_vs_teacher": score}, tags={"teacher": "tiny:teacher"},
                                metric="rougeL_vs_teacher", greater_is_better=True, **kwargs)


def _aliases(client):
    return {alias: str(v) for alias, v in client.get_registered_model(NAME).aliases.items()}


def test_challenger_champion_and_previous_champion_move_by_metric(tracking, tiny_teacher_dir):
    first = _register(tiny_teacher_dir, 0.30)
    assert (first.version, first.promoted, first.aliases) == ("1", True, ["challenger", "champion"])
    assert "no champion yet" in first.reason

    worse = _register(tiny_teacher_dir, 0.20)
    assert (worse.version, worse.promoted) == ("2", False)
    assert "0.2000 does not beat the champion's 0.3000" in worse.reason
    assert _aliases(tracking) == {"challenger": "2", "champion": "1"}

    better = _register(tiny_teacher_dir, 0.40)
    assert better.promoted
    assert _aliases(tracking) == {"challenger": "3", "champion": "3", "previous-champion": "1"}
    version = tracking.get_model_version(NAME, "3")
    assert version.tags["teacher"] == "tiny:teacher" and version.tags["metric.rougeL_vs_teacher"] == "0.4"


def test_min_delta_is_required_margin(tracking, tiny_teacher_dir):
    _register(tiny_teacher_dir, 0.30)
    assert not _register(tiny_teacher_dir, 0.32, min_delta=0.05).promoted
    assert _register(tiny_teacher_dir, 0.36, min_delta=0.05).promoted


def test_registered_champion_loads_with_transformers_and_generates(tracking, tiny_teacher_dir):
    _register(tiny_teacher_dir, 0.5)
    components = mlflow.transformers.load_model(f"models:/{NAME}@champion", return_type="components")
    model, tokenizer = components["model"], components["tokenizer"]
    ids = tokenizer("Name a color.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4


def test_missing_metric_fails_before_anything_is_logged(tracking, tiny_teacher_dir):
    with mlflow.start_run(), pytest.raises(ValueError, match=r"registry.metric 'bleu' was not measured; available: \['rougeL_vs_teacher'\]"):
        register_student(tiny_teacher_dir, name=NAME, metrics={"rougeL_vs_teacher": 0.1}, tags={},
                         metric="bleu", greater_is_better=True)
    assert tracking.search_registered_models() == []


def test_failure_after_version_creation_leaves_no_partial_version(tracking, tiny_teacher_dir, monkeypatch):
    _register(tiny_teacher_dir, 0.3)

    def broken(*args, **kwargs):
        raise MlflowException("alias service down")

    from mlflow.exceptions import MlflowException

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", broken)
    with pytest.raises(MlflowException, match="alias service down"):
        _register(tiny_teacher_dir, 0.9)
    monkeypatch.undo()
    versions = [str(v.version) for v in tracking.search_model_versions(f"name='{NAME}'")]
    assert versions == ["1"]
    assert _aliases(tracking) == {"challenger": "1", "champion": "1"}
