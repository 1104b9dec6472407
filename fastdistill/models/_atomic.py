"""Write a directory all at once: build it beside its final place, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def build_dir_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp)` and move `tmp` to `final`; a crash never leaves a half-written `final`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        if final.exists():  # another process won the race, or a stale entry is being replaced
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
