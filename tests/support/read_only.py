"""A file or directory that the process under test really cannot write, even when the tests run as root.

Root writes through permission bits (CAP_DAC_OVERRIDE), so a read-only mode
alone proves nothing there. `unwritable(path)` makes `path` read-only (mode
without write bits) and yields the command prefix to run the process under
test with, trying in turn:

1. not root: the mode is enough; no prefix.
2. root: run the process under `setpriv` without the capabilities that
   override permission bits (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
   CAP_FOWNER, dropped from its bounding set). It stays uid 0, so every path
   the tests made is still readable and writable as its owner; only the
   read-only path refuses writes, to open(2) and access(2) alike.
3. root where capabilities cannot be dropped: `chattr +i`, immutable for root.

Each way is checked before it is used (the prefixed process must see the path
as unwritable). Where none works the test skips, saying why, or fails in CI.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import unavailable

DROP_CAPS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", "--"]


def _unwritable_to(prefix: list[str], path: Path) -> bool:
    """Whether a process started with `prefix` is refused writing `path` (access(2), as the preflight asks)."""
    try:
        out = subprocess.run([*prefix, "sh", "-c", 'test ! -w "$1"', "-", str(path)], capture_output=True,
                             timeout=30, check=False)
    except OSError:
        return False
    return out.returncode == 0


@contextmanager
def unwritable(path: Path) -> Iterator[list[str]]:
    """`path` read-only for the process the caller starts with the yielded prefix; restored afterwards."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    immutable = False
    try:
        if os.geteuid() != 0:
            prefix: list[str] = []
        elif shutil.which("setpriv") and _unwritable_to(DROP_CAPS, path):
            prefix = DROP_CAPS
        elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True,
                                                        check=False).returncode == 0:
            immutable, prefix = True, []
        else:
            prefix = None
        if prefix is None or not _unwritable_to(prefix, path):
            unavailable(f"cannot make {path} unwritable for root here: neither setpriv dropping CAP_DAC_OVERRIDE "
                        "(needs util-linux and CAP_SETPCAP) nor chattr +i (needs CAP_LINUX_IMMUTABLE) works")
        yield prefix
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)
