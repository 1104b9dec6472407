"""Config faults that used to be accepted or found minutes late, refused before any step (issue 17, items 1, 7, 8).

The teacher's shape is read without loading it: `tiny:teacher` has 4 layers,
and its tokenizer (SmolLM2's, with a system prompt in its chat template)
puts about 30 tokens around every prompt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fastdistill.models.shapes import chat_template_tokens, teacher_layers
from fastdistill.run_config import (
    ConfigError,
    check_zenml_fields,
    load_run_config,
    validate_parameters,
)
from tests.support.config import config_error


def _tiny(seeds: Path, **sections) -> dict:
    return {"data": {"seeds_path": str(seeds)}, "teacher": {"model": "tiny:teacher"}, "student": {"num_layers": 2},
            **sections}


def test_an_empty_config_file_is_refused_not_run_with_every_default(tmp_path):
    for text in ("", "# nothing yet\n", "\n\n"):
        empty = tmp_path / "empty.yaml"
        empty.write_text(text)
        with pytest.raises(ConfigError, match=r"empty.yaml: the file is empty; a run YAML needs a parameters: section"):
            load_run_config(empty)


def test_a_config_without_parameters_is_refused(tmp_path):
    only_zenml = tmp_path / "zenml_only.yaml"
    only_zenml.write_text("enable_cache: false\n")
    with pytest.raises(ConfigError, match=r"zenml_only.yaml: no parameters: section"):
        load_run_config(only_zenml)


@pytest.mark.parametrize("field, value", [("training.batch_size", True), ("teacher.top_k", False),
                                          ("training.learning_rate", True), ("evaluation.max_examples", True)])
def test_a_bool_is_not_a_number(seeds, field, value):
    section, key = field.split(".")
    message = config_error(_tiny(seeds, **{section: {key: value}}))
    assert message == f"cfg.yaml: {field}: expected a number, got {value!r}"


def test_bools_still_set_bool_fields(seeds):
    params = validate_parameters(_tiny(seeds, training={"activation_checkpointing": True}, teacher={
        "model": "tiny:teacher", "rationales": False}))
    assert params.training.activation_checkpointing is True and params.teacher.rationales is False


def test_the_teachers_shape_is_known_without_loading_it(tmp_path):
    assert teacher_layers("tiny:teacher") == 4 and teacher_layers("tiny:teacher?layers=6") == 6
    assert teacher_layers("packaged:smollm2-135m-instruct") == 30  # from the GGUF header
    (tmp_path / "config.json").write_text('{"num_hidden_layers": 12}')
    assert teacher_layers(str(tmp_path)) == 12
    assert teacher_layers("models:/x/1") is None and teacher_layers("org/name") is None  # would need a load
    assert 10 < chat_template_tokens("tiny:teacher") < 64


def test_a_student_deeper_than_its_teacher_is_refused(seeds):
    message = config_error(_tiny(seeds, student={"num_layers": 6}))
    assert ("student.num_layers (6) exceeds the teacher tiny:teacher's 4 layers: a student is built from the "
            "teacher's own layers; use at most 4") in message
    swept = config_error(_tiny(seeds, student={"num_layers": 2}, sweep={"grid": {"num_layers": [2, 5]}}))
    assert "sweep.grid.num_layers (5) exceeds the teacher tiny:teacher's 4 layers" in swept
    assert "(2)" not in swept
    assert validate_parameters(_tiny(seeds, student={"num_layers": 4})).student.num_layers == 4


def test_a_max_length_no_example_fits_is_refused(seeds):
    template = chat_template_tokens("tiny:teacher")
    message = config_error(_tiny(seeds, training={"max_length": 16}, gate={"min_prompt_tokens": 3}))
    assert message == (f"cfg.yaml: training.max_length (16) fits no example: the teacher's chat template takes "
                       f"{template} tokens and every prompt at least gate.min_prompt_tokens (3), leaving no token of "
                       f"the answer; use at least {template + 4}")
    fits = validate_parameters(_tiny(seeds, training={"max_length": template + 3}, gate={"min_prompt_tokens": 3}))
    assert fits.training.max_length == template + 3  # a 3-token prompt may still leave room: not refused


def test_zenml_top_level_fields_are_validated_by_zenml_before_a_run():
    with pytest.raises(ConfigError) as err:
        check_zenml_fields({"enable_cache": "maybe", "run_name": ["a"], "parameters": {}}, "my.yaml")
    lines = [line.strip().removeprefix("my.yaml: ") for line in str(err.value).splitlines()]
    assert len(lines) == 2 and str(err.value).startswith("my.yaml: ")
    assert any(line.startswith("enable_cache: Input should be a valid boolean") and "got 'maybe'" in line for line in lines)
    assert any(line.startswith("run_name: Input should be a valid string") for line in lines)
    check_zenml_fields({"enable_cache": False, "model": {"name": "m"}, "steps": {"evaluate": {"enable_cache": True}},
                        "parameters": {"anything": 1}}, "my.yaml")  # ours is checked elsewhere


def test_a_misspelled_key_inside_a_step_entry_is_refused():
    with pytest.raises(ConfigError, match=r"^my.yaml: steps.evaluate.enable_cach: unknown key; a step takes \["):
        check_zenml_fields({"steps": {"evaluate": {"enable_cach": False}}}, "my.yaml")


def test_a_given_student_with_another_tokenizer_is_refused(seeds, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "</s>", "the", "a", "cat"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    other = tmp_path / "other-student"
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                            eos_token="</s>").save_pretrained(other)
    (other / "config.json").write_text('{"num_hidden_layers": 2, "vocab_size": 6}')
    message = config_error(_tiny(seeds, student={"model": str(other)}))
    assert f"student.model {other}: its tokenizer (6 tokens) is not the teacher tiny:teacher's (" in message
    assert "token-level distillation needs the same tokenizer" in message
    same = validate_parameters(_tiny(seeds, student={"model": "tiny:student"}))  # the packaged tokenizer too
    assert same.student.model == "tiny:student"
