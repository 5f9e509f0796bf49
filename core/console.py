"""Rich consoles for the command line: the terminal's width on a terminal, full width elsewhere.

Piped or redirected (CI logs, `| less`, `> out.txt`), rich falls back to 80 columns and cuts table
cells ("torch-scri..."); there the console is plain text as wide as the table needs.
"""

from __future__ import annotations

import sys
from typing import Any

#: Wide enough for any table twinbench prints; rich draws a table at its natural width up to this.
PIPE_WIDTH = 1000


def make_console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, color_system=None, highlight=False, emoji=False)
