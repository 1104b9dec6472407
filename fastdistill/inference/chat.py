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


_HEADERS: dict[str, str] = {}


def _generation_header(tokenizer: PreTrainedTokenizerBase) -> str:
    """What the template appends for the assistant's turn to start (SmolLM2: '<|im_start|>assistant\n')."""
    turn = [{"role": "user", "content": "x"}]
    with_header = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    return with_header.removeprefix(tokenizer.apply_chat_template(turn, tokenize=False))


def is_rendered(tokenizer: PreTrainedTokenizerBase, prompt: str) -> bool:
    """Whether `prompt` is already a rendered conversation (a chat row's prompt): it ends with the template's
    generation header, which no plain prompt does. Such a prompt is encoded as it is, not wrapped again."""
    template = tokenizer.chat_template
    if not template:
        return False
    if template not in _HEADERS:  # every prompt asks: render the template once, not per prompt
        _HEADERS[template] = _generation_header(tokenizer)
    return bool(_HEADERS[template].strip()) and prompt.endswith(_HEADERS[template])


def encode_chat_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    """Token ids of a single-turn user prompt (or of a rendered conversation), ending where the assistant's answer
    starts."""
    if is_rendered(tokenizer, prompt):
        return tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt + "\n")["input_ids"]
