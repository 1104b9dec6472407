"""The CLI's one console and its one error printer.

`fail` prints `error: <text>` (the label in red) and exits: 2 for bad input
(a config, a file, a name that does not exist), 1 for a run that failed. The
text is printed literally, never read as rich markup, so a message quoting
`[gpu]` or `[/x]` from a config or an exception shows as written.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console
from rich.text import Text

BAD_INPUT = 2
RUN_FAILED = 1

console = Console()


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    sys.exit(code)


def warn(message: str) -> None:
    console.print(Text.assemble(("warning:", "yellow"), " ", message), highlight=False, soft_wrap=True)

