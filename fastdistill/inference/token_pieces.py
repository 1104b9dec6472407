"""Token strings a server returns, mapped back to the local tokenizer's ids.

A server without vLLM's token-id extension returns each logprob token as the
text it decodes to (" Paris"), not as the vocabulary entry ("ĠParis"). For a
byte-level BPE vocabulary (GPT-2, SmolLM2, Llama 3, Qwen) every entry is the
token's bytes written in a 256-character alphabet, so the text is encoded to
UTF-8 and each byte mapped through that alphabet: a plain vocabulary lookup
of " Paris" would miss, and of a non-ASCII piece would find nothing at all.

A token that ends inside a multi-byte character has no text of its own.
Servers say so three ways: as the raw bytes (OpenAI's chat `bytes` field),
as `bytes:\\xe6\\x9d` (OpenAI's completions), or lossily ("" from
llama-cpp-python, U+FFFD from others). The first two map exactly; a lossy
piece cannot name one token and is refused (`LossyPiece`) instead of guessed.
llama-cpp-python also renders every special token as "" (the end-of-turn
token, a frequent runner-up near the end of a reply, among them).
"""

from __future__ import annotations

import re
from functools import cache

from transformers import PreTrainedTokenizerBase

TOKEN_ID_PREFIX = "token_id:"  # vLLM's `return_tokens_as_token_ids`
BYTES_PREFIX = "bytes:"
_ESCAPED_BYTE = re.compile(r"\\x([0-9a-fA-F]{2})")


class LossyPiece(ValueError):
    """A token string the server could not render (part of a multi-byte character): no single id fits."""


@cache
def byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> character table (transformers' own copy, the one its byte-level tokenizers are built with)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def is_byte_level(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the vocabulary spells tokens in the byte alphabet (its decoder is tokenizers' ByteLevel)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in repr(decoder)


def piece_bytes(piece: str, raw: list[int] | None = None) -> bytes:
    """The bytes a returned token stands for; `raw` is a server's own byte list when it sends one."""
    if raw is not None:
        return bytes(raw)
    if piece.startswith(BYTES_PREFIX):
        rest = piece[len(BYTES_PREFIX):]
        out, last = bytearray(), 0
        for match in _ESCAPED_BYTE.finditer(rest):
            out += rest[last:match.start()].encode()
            out.append(int(match.group(1), 16))
            last = match.end()
        return bytes(out + rest[last:].encode())
    if piece == "" or "\ufffd" in piece:
        raise LossyPiece(f"token {piece!r} has no text of its own (a special token such as the end of turn, or part "
                         "of a multi-byte character) and the server sent neither its id nor its bytes")
    return piece.encode("utf-8")


class PieceMapper:
    """Maps a server's token strings to local ids: `token_id:N`, special tokens, then byte-level text."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.vocab = tokenizer.get_vocab()
        self.special = {t: self.vocab[t] for t in tokenizer.all_special_tokens if t in self.vocab}
        self.special.update(tokenizer.get_added_vocab())
        self.byte_level = is_byte_level(tokenizer)
        self._alphabet = byte_alphabet()

    def __call__(self, piece: str, raw: list[int] | None = None) -> int:
        """The id of one returned token; `KeyError` names a piece the vocabulary lacks, `LossyPiece` a lossy one."""
        if piece.startswith(TOKEN_ID_PREFIX):
            return int(piece[len(TOKEN_ID_PREFIX):])
        if piece in self.special and raw is None:
            return self.special[piece]
        if not self.byte_level:  # SentencePiece-style vocabularies: the server's string is the entry itself
            if piece in self.vocab:
                return self.vocab[piece]
            raise KeyError(piece)
        spelled = "".join(self._alphabet[b] for b in piece_bytes(piece, raw))
        if spelled not in self.vocab:
            raise KeyError(piece)
        return self.vocab[spelled]
