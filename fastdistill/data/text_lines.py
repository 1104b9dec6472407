"""Text files read line by line with every line's number, so a bad byte is reported where it is.

Shared by the seeds reader and `run.py evaluate --data`: decoding the whole
file at once would raise a `UnicodeDecodeError` that names neither the file
nor the line.
"""

from __future__ import annotations

from pathlib import Path


def utf8_lines(path: Path, error: type[Exception] = ValueError) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line; a line that is not UTF-8 raises `error` naming file, line, byte."""
    lines = []
    for number, chunk in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as err:
            raise error(f"{path}:{number}: not UTF-8 (byte 0x{chunk[err.start]:02x} at column {err.start + 1}); "
                        "save the file as UTF-8") from None
        if text.strip():
            lines.append((number, text.removeprefix("\ufeff")))
    return lines
