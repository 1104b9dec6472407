"""Config errors stop a run up front and name the field, what was wrong and what is accepted."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fastdistill.config import RunConfig, fingerprint
from fastdistill.run_config import ConfigError, load_run_config, validate_parameters
from tests.support.config import config_error


def test_defaults_validate_and_fill_in_the_seeds_hash(seeds):
    config = validate_parameters({"data": {"seeds_path": str(seeds)}})
    assert isinstance(config, RunConfig)
    assert len(config.data.seeds_sha256) == 64
    assert config.student.num_layers == 20 and config.teacher.model == "packaged:smollm2-135m-instruct"


def test_unknown_key_names_its_path(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "training": {"ce_wieght": 0.5}})
    assert "cfg.yaml: training.ce_wieght: unknown key" in message


def test_wrong_type_names_field_and_value(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "teacher": {"top_k": "many"}})
    assert "teacher.top_k" in message and "'many'" in message


def test_out_of_range_value_says_the_bound(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "training": {"ce_weight": 1.5}})
    assert "training.ce_weight" in message and "less than or equal to 1" in message


def test_missing_seeds_file_is_named():
    message = config_error({"data": {"seeds_path": "nowhere/seeds.jsonl"}})
    assert "data: seeds_path: file 'nowhere/seeds.jsonl' does not exist" in message


def test_unknown_teacher_spec_lists_accepted_forms(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "teacher": {"model": "packaged:gpt5"}})
    assert "teacher.model" in message and "'packaged:gpt5' is not a packaged model" in message
    assert "smollm2-135m-instruct" in message


def test_unknown_objective_lists_choices(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "training": {"objective": "rkll"}})
    assert "training.objective = 'rkll' is not allowed: 'sft', 'fkl', 'rkl', 'jsd', 'skl', 'srkl', 'step_by_step', 'gkd' or 'tvd'" in message


def test_student_needs_exactly_one_source(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "student": {"model": "tiny:s", "num_layers": 2}})
    assert "student: set exactly one of student.model" in message


def test_unknown_registry_metric_lists_choices(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "registry": {"metric": "bleu"}})
    assert "registry.metric = 'bleu' is not allowed" in message and "rougeL_vs_teacher" in message


def test_every_problem_is_reported_at_once(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "teacher": {"top_k": 0}, "evaluation": {"batch_size": 0}})
    assert "teacher.top_k" in message and "evaluation.batch_size" in message


def test_yaml_file_errors(tmp_path, seeds):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_run_config(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text(textwrap.dedent(f"""
        paramters:
          data: {{seeds_path: {seeds}}}
    """))
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['paramters'\]"):
        load_run_config(typo)
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "missing.yaml")


def test_shipped_configs_are_valid():
    root = Path(__file__).resolve().parents[2]
    for name in ("quickstart.yaml", "tiny.yaml"):
        import os

        cwd = os.getcwd()
        os.chdir(root)
        try:
            document, config = load_run_config(root / "configs" / name)
        finally:
            os.chdir(cwd)
        assert "model" in document
        assert config.registry.model_name == {"quickstart.yaml": "fastdistill-student", "tiny.yaml": "fastdistill-tiny"}[name]


def test_fingerprint_changes_with_config(seeds):
    a = validate_parameters({"data": {"seeds_path": str(seeds)}})
    b = validate_parameters({"data": {"seeds_path": str(seeds)}, "training": {"learning_rate": 1e-3}})
    assert fingerprint(a.training) != fingerprint(b.training)
    assert fingerprint(a.training) == fingerprint(validate_parameters({"data": {"seeds_path": str(seeds)}}).training)


def test_openai_backend_needs_a_server_url(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "teacher": {"backend": "openai"}})
    assert "teacher: backend 'openai' needs teacher.base_url" in message
    ok = validate_parameters({"data": {"seeds_path": str(seeds)},
                              "teacher": {"backend": "openai", "base_url": "http://localhost:8000/v1"}})
    assert ok.teacher.backend == "openai"


def test_the_old_eval_fraction_says_what_replaced_it(seeds):
    message = config_error({"data": {"seeds_path": str(seeds), "eval_fraction": 0.2}})
    assert "eval_fraction was split in two: set validation_fraction" in message


def test_student_and_teacher_are_compared_at_the_same_budget(seeds):
    message = config_error({"data": {"seeds_path": str(seeds)}, "teacher": {"max_new_tokens": 32},
                      "evaluation": {"max_new_tokens": 64}})
    assert "evaluation.max_new_tokens (64) exceeds teacher.max_new_tokens (32)" in message
    assert "sweep.eval_max_new_tokens (48) exceeds teacher.max_new_tokens (32)" in message
    sampled = config_error({"data": {"seeds_path": str(seeds)}, "teacher": {"temperature": 0.7}})
    assert "teacher.temperature 0.7" in sampled and "must then be greedy" in sampled
