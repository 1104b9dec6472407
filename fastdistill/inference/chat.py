"""Tokenizers and chat templates: how a prompt becomes the token ids every backend feeds its model."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def render_conversation(tokenizer: PreTrainedTokenizerBase, conversation: list[dict[str, str]]) -> str:
    """A conversation (system / user / assistant turns) as the prompt text the model continues with its answer:
    the chat template with the generation prompt, system prompts kept. A chat row's prompt is this text."""
    if not tokenizer.chat_template:
        raise ValueError("the teacher's tokenizer has no chat template, which the chat format needs to render a "
                         "conversation; use a chat model as teacher or the seeds/alpaca format")
    return tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)


def _generation_header(tokenizer: PreTrainedTokenizerBase) -> str:
    """What the template appends for the assistant's turn to start (SmolLM2: '<|im_start|>assistant\n')."""
    turn = [{"role": "user", "content": "x"}]
    with_header = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    return with_header.removeprefix(tokenizer.apply_chat_template(turn, tokenize=False))


def is_rendered(tokenizer: PreTrainedTokenizerBase, prompt: str) -> bool:
    """Whether `prompt` is already a rendered conversation (a chat row's prompt): it ends with the template's
    generation header, which no plain prompt does. Such a prompt is encoded as it is, not wrapped again."""
    if not tokenizer.chat_template:
        return False
    header = getattr(tokenizer, "_fastdistill_generation_header", None)
    if header is None:
        header = _generation_header(tokenizer)
        tokenizer._fastdistill_generation_header = header
    return bool(header.strip()) and prompt.endswith(header)


def encode_chat_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    """Token ids of a single-turn user prompt (or of a rendered conversation), ending where the assistant's answer
    starts."""
    if is_rendered(tokenizer, prompt):
        return tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt + "\n")["input_ids"]
