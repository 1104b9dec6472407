"""EvaluationConfig and RegistryConfig: defaults, and errors that name the field and the fix."""

import pytest

from fastdistill.config import EvaluationConfig, RegistryConfig
from fastdistill.run_config import ConfigError, validate_parameters


def test_defaults_keep_the_expensive_metrics_small():
    config = EvaluationConfig()
    assert (config.judge_model, config.judge_pairs, config.efficiency_prompts, config.speculative) == (None, 8, 8, True)
    registry = RegistryConfig()
    assert (registry.metric, registry.greater_is_better, registry.thresholds, registry.must_not_regress) == (
        "rougeL_vs_teacher", None, {}, [])


def test_gate_metrics_must_be_metrics_the_evaluation_reports():
    with pytest.raises(ConfigError) as err:
        validate_parameters({"registry": {"metric": "bleu", "thresholds": {"rougeL": 0.2},
                                          "must_not_regress": ["top1_agreement", "acc"]}}, "x.yaml")
    text = str(err.value)
    assert "registry.metric = 'bleu' is not allowed: 'rougeL_vs_reference', 'rougeL_vs_teacher'," in text
    assert "registry.thresholds.rougeL.[key] = 'rougeL' is not allowed" in text
    assert "registry.must_not_regress.1 = 'acc' is not allowed" in text
    assert "top1_agreement' is not" not in text  # the valid entry is not reported


def test_judge_model_is_a_model_spec_and_unknown_keys_are_refused():
    assert EvaluationConfig(judge_model="tiny:judge").judge_model == "tiny:judge"
    with pytest.raises(ConfigError) as err:
        validate_parameters({"evaluation": {"judge_model": "packaged:gpt5", "judge_pair": 3}}, "x.yaml")
    assert "evaluation.judge_model: 'packaged:gpt5' is not a packaged model" in str(err.value)
    assert "evaluation.judge_pair: unknown key" in str(err.value)


def test_speed_is_measured_on_enough_prompts():
    assert EvaluationConfig(efficiency_prompts=0).efficiency_prompts == 0
    with pytest.raises(ValueError, match="3 prompts are too few for latency percentiles; use 0 .skip. or at least 8"):
        EvaluationConfig(efficiency_prompts=3)


def test_a_served_judge_is_a_section_with_a_server_and_needs_no_local_model():
    served = EvaluationConfig(judge={"backend": "openai", "base_url": "https://api.example/v1", "model": "gpt-judge"})
    assert (served.judge.model, served.judge.api_key_env, served.local_judge_model) == ("gpt-judge", "OPENAI_API_KEY", None)
    assert EvaluationConfig(judge={"model": "tiny:judge"}).local_judge_model == "tiny:judge"
    with pytest.raises(ConfigError, match="needs evaluation.judge.base_url"):
        validate_parameters({"evaluation": {"judge": {"backend": "openai", "model": "gpt-judge"}}}, "x.yaml")
    with pytest.raises(ConfigError, match="set evaluation.judge or evaluation.judge_model, not both"):
        validate_parameters({"evaluation": {"judge": {"model": "tiny:judge"}, "judge_model": "tiny:judge"}}, "x.yaml")
    with pytest.raises(ConfigError, match="'packaged:gpt5' is not a packaged model"):
        validate_parameters({"evaluation": {"judge": {"model": "packaged:gpt5"}}}, "x.yaml")
