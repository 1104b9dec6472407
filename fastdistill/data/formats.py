"""Prompts in every common shape: one loader from a file or folder to the canonical prompt table.

Files: JSONL, JSON (an array of objects, or one object per line), CSV, Parquet,
or a folder written by `datasets`' `save_to_disk`. Everything is read with
the `datasets` library, so a large file is an Arrow table on disk
(memory-mapped) and is mapped in batches, never held as Python lists.

Formats (the names of their columns; `columns:` renames them):
  seeds   prompt, reference (id, category optional)
  alpaca  instruction, input (optional), output -> prompt = instruction + input, reference = output
  chat    messages: [{role, content}, ...] with system / user / assistant turns; the last turn is the
          assistant's answer (the reference), the turns before it are the conversation, which becomes the
          prompt through the teacher's chat template (system prompts kept) and stays in `messages` (JSON)
  auto    one of the above, detected from the columns

Every row becomes (id, category, prompt, reference, messages). A missing id is
a content hash (stable across runs), a missing category is `default`. A bad
row raises `DataFileError` naming the file, the row (the line, for JSONL) and
the column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("seeds", "alpaca", "chat")
# The columns each format reads, by their canonical names; the first ones are required.
FORMAT_COLUMNS = {
    "seeds": (("prompt", "reference"), ("id", "category")),
    "alpaca": (("instruction", "output"), ("input", "id", "category")),
    "chat": (("messages",), ("id", "category")),
}
# Each format's answer: optional where references are (`run.py evaluate`); a chat row's answer is its last turn.
ANSWER_COLUMNS = {"seeds": "reference", "alpaca": "output"}
CANONICAL = ("id", "category", "prompt", "reference", "messages")
DEFAULT_CATEGORY = "default"
ROLES = ("system", "user", "assistant")
SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
BATCH_ROWS = 10_000
_LOADER_VERSION = "2"  # part of every mapped table's fingerprint: bump when the mapping below changes

RenderChat = Callable[[list[dict[str, str]]], str]


class DataFileError(ValueError):
    """A data file that cannot be used; names the file, the row (or line) and the column."""


def format_columns(fmt: str, references: bool = True) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) canonical columns of `fmt`; without `references` its answer column is optional."""
    required, optional = FORMAT_COLUMNS[fmt]
    answer = ANSWER_COLUMNS.get(fmt)
    if references or answer is None:
        return required, optional
    return tuple(c for c in required if c != answer), (answer, *optional)


def source_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, in name order)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        digest.update(source_sha256(file).encode())
    return digest.hexdigest()


def check_source(path: str | Path) -> str | None:
    """Why `path` cannot be a data source (None when it can): missing, or a kind of file we do not read."""
    path = Path(path)
    if path.is_dir():
        return None if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file() else (
            f"folder '{path}' was not written by datasets' save_to_disk (no dataset_info.json or dataset_dict.json)")
    if not path.is_file():
        return f"file '{path}' does not exist (relative paths are read from {Path.cwd()})"
    if path.suffix.lower() not in SUFFIXES:
        return f"file '{path}' has suffix '{path.suffix}'; use one of {sorted(SUFFIXES)} or a save_to_disk folder"
    return None


# --- reading the raw table -------------------------------------------------------------------------------------------

def _json_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line, streamed; a bad byte is reported with its line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFileError(f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                                    "save the file as UTF-8") from None
            if text.strip():
                yield number, text.removeprefix("\ufeff")


def _check_json_lines(path: Path) -> np.ndarray:
    """The line number of every row of a JSON Lines file. Every line must be an object whose known columns have the
    right type: pyarrow's reader would otherwise fail on the first odd value without naming its line."""
    lines = []
    for number, text in _json_lines(path):
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataFileError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(row, dict):
            raise DataFileError(f"{path}:{number}: expected a JSON object (one row per line), got {type(row).__name__}")
        for name, value in row.items():
            if name in _KNOWN and value is not None and not isinstance(value, list if name == "messages" else str):
                kind = "a list of {role, content} turns" if name == "messages" else "a string"
                raise DataFileError(f"{path}:{number}, column '{name}': must be {kind} (got {value!r})"[:300])
        lines.append(number)
    if not lines:
        raise DataFileError(f"{path}: the file is empty; write one JSON object per line")
    return np.asarray(lines, dtype=np.int64)


_KNOWN = {name for required, optional in FORMAT_COLUMNS.values() for name in required + optional}


def _is_json_lines(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    return not head.startswith(b"[")


def read_table(path: str | Path):
    """The file or save_to_disk folder as a `datasets.Dataset` (Arrow, memory-mapped), and for JSON Lines the line
    number of every row (None otherwise)."""
    import datasets

    path = Path(path)
    problem = check_source(path)
    if problem:
        raise DataFileError(problem)
    lines = None
    if path.is_dir():
        table = datasets.load_from_disk(str(path))
        if isinstance(table, datasets.DatasetDict):
            if len(table) != 1:
                raise DataFileError(f"{path}: a DatasetDict with splits {sorted(table)}; save one split "
                                    "(dataset['train'].save_to_disk(...)) or point at it")
            table = next(iter(table.values()))
        return table, None
    with path.open("rb") as handle:
        blank = not handle.read(4096).strip()
    if blank:
        raise DataFileError(f"{path}: the file is empty")
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "json" and _is_json_lines(path):
        lines = _check_json_lines(path)
    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset(kind, data_files=str(path.resolve()), split="train")
    except Exception as err:  # pyarrow and datasets raise many types for an unreadable file; name the file
        raise DataFileError(f"{path}: cannot be read as {kind} ({type(err).__name__}: {err})") from None
    finally:
        datasets.enable_progress_bars()
    return table, lines


# --- formats ---------------------------------------------------------------------------------------------------------

def detect_format(names: list[str], path: Path | str = "data", references: bool = True) -> str:
    """The format whose required columns are present; exactly one must match."""
    wanted_by = {f: format_columns(f, references)[0] for f in FORMATS}
    matches = [f for f, required in wanted_by.items() if all(c in names for c in required)]
    if len(matches) == 1:
        return matches[0]
    wanted = "; ".join(f"{f}: {list(required)}" for f, required in wanted_by.items())
    if not matches:
        raise DataFileError(f"{path}: columns {names} match no format ({wanted}); set data.format, or data.columns "
                            "to map yours (e.g. {{prompt: question, reference: answer}})")
    raise DataFileError(f"{path}: columns {names} match several formats {matches}; set data.format")


def _renamed(names: list[str], columns: dict[str, str] | None, path: Path) -> dict[str, str]:
    """Canonical column name -> the file's column name."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - _KNOWN)
    if unknown:
        raise DataFileError(f"{path}: data.columns maps {unknown}, not a column of any format; map some of "
                            f"{sorted(_KNOWN)} to the file's columns")
    missing = sorted(source for source in columns.values() if source not in names)
    if missing:
        raise DataFileError(f"{path}: data.columns names column(s) {missing} that the file lacks; it has {names}")
    taken = set(columns.values())
    return {**{n: n for n in names if n not in taken and n not in columns}, **columns}


def _text(value: Any, where: str, column: str, required: bool) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        if required:
            raise DataFileError(f"{where}, column '{column}': missing; it must be a non-empty string")
        return None
    if not isinstance(value, str):
        raise DataFileError(f"{where}, column '{column}': must be a string (got {value!r})")
    if required and not value.strip():
        raise DataFileError(f"{where}, column '{column}': must be a non-empty string (got {value!r})")
    return value


def _turns(value: Any, where: str, column: str, answered: bool = True) -> tuple[list[dict[str, str]], str | None]:
    """(the conversation, the answer): the answer is the last turn, the assistant's; with `answered` False a
    conversation may end on its user turn instead (no reference)."""
    if isinstance(value, str):  # CSV cells and some exports hold the list as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataFileError(f"{where}, column '{column}': not a JSON list of turns ({value[:60]!r})") from None
    if not isinstance(value, list) or len(value) < (2 if answered else 1):
        wanted = "at least two turns (a user turn, then the assistant's answer)" if answered else "a user turn"
        raise DataFileError(f"{where}, column '{column}': needs a list of {wanted}, got {value!r}"[:300])
    turns = []
    for number, turn in enumerate(value, start=1):
        if not isinstance(turn, dict) or turn.get("role") not in ROLES or not isinstance(turn.get("content"), str):
            raise DataFileError(f"{where}, column '{column}': turn {number} must be {{role, content}} with role one of "
                                f"{list(ROLES)} and a string content, got {turn!r}"[:300])
        turns.append({"role": turn["role"], "content": turn["content"]})
    if not answered and turns[-1]["role"] != "assistant":
        conversation, answer = turns, None
    elif turns[-1]["role"] != "assistant" or not turns[-1]["content"].strip():
        raise DataFileError(f"{where}, column '{column}': the last turn must be the assistant's non-empty answer "
                            f"(the reference), got role '{turns[-1]['role']}'")
    else:
        conversation, answer = turns[:-1], turns[-1]["content"]
    if not any(t["role"] == "user" and t["content"].strip() for t in conversation):
        raise DataFileError(f"{where}, column '{column}': no non-empty user turn before the answer")
    return conversation, answer


def transcript(conversation: list[dict[str, str]]) -> str:
    """A plain rendering of a conversation, for reading it without a chat template."""
    return "\n".join(f"{t['role'].capitalize()}: {t['content']}" for t in conversation)


def content_text(prompt: Any, messages: Any) -> str:
    """What a row says, for dedup and decontamination: a chat row's user and assistant turns without the chat
    template's markup or system prompts (which many rows share and would make them look alike); else the prompt."""
    if isinstance(messages, str) and messages:
        return "\n".join(t["content"] for t in json.loads(messages) if t["role"] != "system")
    return prompt if isinstance(prompt, str) else ""


def content_id(prompt: str, reference: str | None, messages: str | None) -> str:
    payload = json.dumps([messages or prompt, reference], ensure_ascii=False).encode()
    return "row-" + hashlib.sha256(payload).hexdigest()[:16]


class _RowMapper:
    """Maps raw batches to the canonical columns, validating each row; remembers ids across batches."""

    def __init__(self, path: Path, fmt: str, names: dict[str, str], lines: np.ndarray | None, render: RenderChat | None,
                 references: bool = True):
        self.path, self.format, self.names, self.lines, self.render = path, fmt, names, lines, render
        self.references = references
        self.first_row: dict[str, int] = {}

    def where(self, index: int) -> str:
        return f"{self.path}:{int(self.lines[index])}" if self.lines is not None else f"{self.path} row {index + 1}"

    def _place(self, index: int) -> str:
        return f"line {int(self.lines[index])}" if self.lines is not None else f"row {index + 1}"

    def _row(self, get: Callable[[str], Any], index: int) -> dict[str, Any]:
        where = self.where(index)
        messages = None
        if self.format == "seeds":
            prompt = _text(get("prompt"), where, self.names["prompt"], True)
            reference = _text(get("reference"), where, self.names.get("reference", "reference"), self.references)
        elif self.format == "alpaca":
            instruction = _text(get("instruction"), where, self.names["instruction"], True)
            extra = _text(get("input"), where, self.names.get("input", "input"), False)
            prompt = instruction if not (extra and extra.strip()) else f"{instruction}\n\n{extra}"
            reference = _text(get("output"), where, self.names.get("output", "output"), self.references)
        else:
            conversation, reference = _turns(get("messages"), where, self.names["messages"], self.references)
            messages = json.dumps(conversation, ensure_ascii=False)
            prompt = self.render(conversation) if self.render else transcript(conversation)
        row_id = _text(get("id"), where, self.names.get("id", "id"), False)
        category = _text(get("category"), where, self.names.get("category", "category"), False)
        if row_id is not None and not row_id.strip():
            raise DataFileError(f"{where}, column '{self.names['id']}': an id must not be blank")
        return {"id": row_id, "category": category.strip() if category and category.strip() else DEFAULT_CATEGORY,
                "prompt": prompt, "reference": reference, "messages": messages}

    def _unique_id(self, row: dict[str, Any], index: int) -> str:
        given = row["id"] is not None
        row_id = row["id"] if given else content_id(row["prompt"], row["reference"], row["messages"])
        if row_id in self.first_row:
            if given:
                raise DataFileError(f"{self.where(index)}, column '{self.names['id']}': id '{row_id}' already used on "
                                    f"{self._place(self.first_row[row_id])}; ids must be unique")
            copy = 2  # the same content twice: the gate's exact dedup will reject the copy; ids stay unique
            while f"{row_id}-{copy}" in self.first_row:
                copy += 1
            row_id = f"{row_id}-{copy}"
        self.first_row[row_id] = index
        return row_id

    def __call__(self, batch: dict, indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in CANONICAL}
        for offset, index in enumerate(indices):
            row = self._row(lambda name: batch[self.names[name]][offset] if name in self.names else None, index)
            row["id"] = self._unique_id(row, index)
            for name in CANONICAL:
                out[name].append(row[name])
        return out


def load_prompts(path: str | Path, fmt: str = "auto", columns: dict[str, str] | None = None,
                 render: RenderChat | None = None, render_key: str = "", min_rows: int = 1, references: bool = True):
    """The canonical prompt table of `path` (a `datasets.Dataset`: id, category, prompt, reference, messages).

    `render` turns a chat conversation into the teacher's prompt text (its chat template; `render_key` names it,
    e.g. the template's text); without it a chat prompt is a plain transcript, enough to validate a file or
    compare texts. Without `references` (`run.py evaluate`) a row may lack its answer: a seeds or alpaca row its
    reference or output, a chat row its last assistant turn."""
    import datasets

    from fastdistill.models.sources import DEFAULT_CACHE_DIR

    path = Path(path)
    raw, lines = read_table(path)
    names = _renamed(list(raw.column_names), columns, path)
    fmt = detect_format(sorted(names), path, references) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataFileError(f"{path}: format '{fmt}' is not one of {['auto', *FORMATS]}")
    required, optional = format_columns(fmt, references)
    missing = [c for c in required if c not in names]
    if missing:
        raise DataFileError(f"{path}: format '{fmt}' needs column(s) {missing}; the file has {list(raw.column_names)} "
                            "(data.columns maps other names)")
    if len(raw) < min_rows:
        raise DataFileError(f"{path}: needs at least {min_rows} rows, found {len(raw)}")
    mapper = _RowMapper(path, fmt, {k: v for k, v in names.items() if k in required + optional}, lines, render,
                        references)
    stat = path.stat()  # the table's name: the source as it is now, and how it is mapped
    fingerprint = hashlib.sha256(json.dumps([str(path.resolve()), stat.st_mtime_ns, stat.st_size, fmt,
                                             sorted(names.items()), _LOADER_VERSION, render is not None,
                                             render_key, references]).encode()).hexdigest()[:32]
    # Our own cache folder: datasets would write next to the source, inside a user's save_to_disk folder.
    cache = DEFAULT_CACHE_DIR / "prompt_tables"
    cache.mkdir(parents=True, exist_ok=True)
    features = datasets.Features({name: datasets.Value("string") for name in CANONICAL})
    datasets.disable_progress_bars()
    try:
        return raw.map(mapper, batched=True, batch_size=BATCH_ROWS, with_indices=True, remove_columns=raw.column_names,
                       features=features, new_fingerprint=fingerprint, load_from_cache_file=False,
                       cache_file_name=str(cache / f"{fingerprint}.arrow"))
    finally:
        datasets.enable_progress_bars()


def iter_batches(table, columns: list[str], batch_size: int = BATCH_ROWS) -> Iterator[dict[str, list]]:
    """Batches of a `datasets.Dataset`'s columns (each a dict of lists), for stages that must not hold all rows."""
    for batch in table.select_columns(columns).iter(batch_size=batch_size):
        yield batch
