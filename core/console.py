"""Rich consoles for the command line: the terminal's width on a terminal, full width elsewhere, and
rich markup off.

Piped or redirected (CI logs, `| less`, `> out.txt`), rich falls back to 80 columns and cuts table
cells ("torch-scri..."); there the console is plain text as wide as the table needs.

Markup is off on every console twinbench makes: what it prints comes from files, paths, run
directories and library errors, and a `[/x]` in any of them would otherwise be read as a closing tag
(a MarkupError, i.e. an internal error) or silently restyle the line. Styling is given as data
(`styled`, `rich.text.Text`), never as markup inside a string.
"""

from __future__ import annotations

import re
import sys
from typing import Any

#: Wide enough for any table twinbench prints; rich draws a table at its natural width up to this.
PIPE_WIDTH = 1000

#: C0/C1 control characters (but not tab): a terminal would obey them (cursor moves, colours, title).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def make_console(*, stderr: bool = False) -> Any:
    """A rich Console with markup off (see the module docstring)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return Console(stderr=stderr, markup=False)
    return Console(stderr=stderr, width=PIPE_WIDTH, color_system=None, highlight=False, emoji=False, markup=False)


def styled(text: str, style: str) -> Any:
    """`text` in `style`, as a rich Text (never parsed for markup)."""
    from rich.text import Text

    return Text(text, style=style)


def plain(value: Any, limit: int = 200) -> str:
    """Text read from a file someone else may write, made safe to show: control characters (escape
    sequences, newlines) become spaces and the result is cut at `limit` characters."""
    out = _CONTROL.sub(" ", str(value))
    return out if len(out) <= limit else out[: limit - 1] + "…"
