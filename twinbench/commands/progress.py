"""Progress on stderr for the commands that run cells: a rich bar on a terminal, plain lines when
piped, nothing with `--quiet`. Stdout stays for the result (text or `--json`)."""

from __future__ import annotations

from typing import Any, Callable

from twinbench.core.console import make_console, plain

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]


def silent_say(_msg: str) -> None:
    """A `say` that prints nothing (`--quiet`, the Python API)."""


def silent_progress(_done: int, _total: int, _label: str) -> None:
    """A `progress` that shows nothing."""


def with_progress(body: Callable[[Say, Progress], Any], quiet: bool = False) -> Any:
    """Run `body(say, progress)` under a progress bar on stderr (plain lines when not a terminal; none
    when quiet); returns what `body` returns."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
    from rich.text import Text

    if quiet:
        return body(silent_say, silent_progress)
    console = make_console(stderr=True)
    # markup off everywhere: messages and bar labels carry paths, run ids and library errors
    with Bar(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("preparing", total=None)

        def say(msg: str) -> None:
            line = plain(msg, 4000)  # one line: no escape sequences from a path or an error
            bar.console.print(Text.assemble(("·", "dim"), " ", line), highlight=False)
            if bar.tasks[0].total is None:  # before the cells: the bar names the stage (training epochs, ...)
                bar.update(task, description=line[:60])

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=plain(f"cells: {label}", 60))

        return body(say, progress)
