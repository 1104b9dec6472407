"""The checked run YAML and the dry run's placement rows (fastdistill.infra.placement), without ZenML."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastdistill.config import DataConfig, RunConfig
from fastdistill.infra.k8s import StepPlacement
from fastdistill.infra.placement import (
    Placement,
    base_image,
    checked_document,
    needs_check,
)
from fastdistill.run_config import ConfigError

PARAMS = RunConfig(data=DataConfig())
CONFIG = Path("configs/mine.yaml")


class _Prepared:
    def __init__(self, ids):
        self.invocations, self.sections = {i: None for i in ids}, None

    def prepare(self, **sections):
        self.sections = sections


class _Pipeline:
    """What the checks use of a ZenML pipeline: its parameters and, once prepared, its invocation ids."""

    def __init__(self, ids):
        self.prepared = _Prepared(ids)

    @staticmethod
    def entrypoint(data, teacher, training):
        pass

    def with_options(self):
        return self.prepared


def _never():
    raise AssertionError("the pipeline is only loaded when there is something to check")


def test_a_document_without_kubernetes_or_steps_is_used_as_written():
    document = {"enable_cache": False, "parameters": {}}
    assert not needs_check(document)
    assert checked_document(CONFIG, document, PARAMS, _never) is document


def test_a_misspelled_step_key_is_refused_on_the_local_stack_too():
    document = {"steps": {"evaluat": {"enable_cache": False}}, "parameters": {}}
    assert needs_check(document)  # ZenML would only warn and leave `evaluate` unconfigured
    with pytest.raises(ConfigError, match=r"^configs/mine.yaml: steps.evaluat: no step with this id in the pipeline "
                                          r"\(its steps: \['load_seeds', 'evaluate'\]\)$"):
        checked_document(CONFIG, document, PARAMS, lambda: _Pipeline(["load_seeds", "evaluate"]))


def test_train_student_applies_to_every_sweep_trial():
    pipeline = _Pipeline(["load_seeds", "train_student_sft", "train_student_fkl"])
    document = {"steps": {"train_student": {"enable_cache": False}}}
    checked = checked_document(CONFIG, document, PARAMS, lambda: pipeline)
    assert checked["steps"] == {"train_student_sft": {"enable_cache": False}, "train_student_fkl": {"enable_cache": False}}


def test_glob_keys_become_the_pipelines_invocation_ids():
    pipeline = _Pipeline(["load_seeds", "train_student_sft", "train_student_fkl", "evaluate"])
    document = {"steps": {"train_student_*": {"enable_cache": False}, "evaluate": {}}}
    checked = checked_document(CONFIG, document, PARAMS, lambda: pipeline)
    assert checked["steps"] == {"evaluate": {}, "train_student_sft": {"enable_cache": False},
                                "train_student_fkl": {"enable_cache": False}}
    assert set(pipeline.prepared.sections) == {"data", "teacher", "training"}  # only what the pipeline takes
    assert document["steps"] == {"train_student_*": {"enable_cache": False}, "evaluate": {}}  # not modified


def test_a_misspelled_pod_setting_is_a_config_error_naming_the_field():
    pod = {"node_selector": {"pool": "gpu-train"}}
    document = {"steps": {"evaluate": {"settings": {"orchestrator.kubernetes": {"pod_settings": pod}}}}}
    with pytest.raises(ConfigError, match=r"configs/mine.yaml: steps.evaluate.settings.orchestrator.kubernetes"
                                          r".pod_settings.node_selector: not a pod setting"):
        checked_document(CONFIG, document, PARAMS, lambda: _Pipeline(["evaluate"]))


def test_an_unknown_step_id_is_refused():
    document = {"steps": {"evaluat": {"settings": {"orchestrator.kubernetes": {}}}}}
    with pytest.raises(ConfigError, match=r"steps.evaluat: no step with this id in the pipeline"):
        checked_document(CONFIG, document, PARAMS, lambda: _Pipeline(["evaluate"]))


def _row(step, pool="system", gpus=0, image="reg/fastdistill:distill-orchestrator", tolerations=()):
    return StepPlacement(step, pool, gpus, "500m", "2Gi", image, tolerations)


def test_one_image_is_named_once_below_the_table():
    placement = Placement([_row("(orchestrator)"), _row("train_student", "gpu-train", 1, tolerations=(
        "nvidia.com/gpu:NoSchedule",))], "infra/docker/cuda.Dockerfile")
    assert placement.images == ["reg/fastdistill:distill-orchestrator"]
    assert placement.columns == ("step", "pool", "GPUs", "CPU", "memory", "tolerations", "model weights")
    assert placement.table_rows() == [["(orchestrator)", "system", "0", "500m", "2Gi", "-", "-"],
                                      ["train_student", "gpu-train", "1", "500m", "2Gi", "nvidia.com/gpu:NoSchedule",
                                       "-"]]


def test_steps_in_different_images_get_an_image_column():
    placement = Placement([_row("a", image="reg/x:1"), _row("b", image="reg/x:2")], "ZenML's default image")
    assert placement.columns[-1] == "image"
    assert [row[-1] for row in placement.table_rows()] == ["reg/x:1", "reg/x:2"]


def test_base_image_is_the_dockerfile_else_the_parent_image():
    assert base_image({"settings": {"docker": {"dockerfile": "d", "parent_image": "p"}}}) == "d"
    assert base_image({"settings": {"docker": {"parent_image": "p"}}}) == "p"
    assert base_image({}) == "ZenML's default image"
