"""`twinbench history`: each cell's trend per machine across recorded runs (every `run` and `bench`
records itself; reports/history.py), with steps (a change between consecutive points of one
machine, tested on process figures), an HTML page of plots with `--html PATH` only, and exit 1
with `--fail-on-step` when a cell's latest point is a slower step (a CI gate).

`history` and `steps` are the Python API's; `main` is the command line's body."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from twinbench.core.atomic import write_text
from twinbench.core.errors import ConfigError
from twinbench.reports.history import default_store, history as read_history
from twinbench.reports.history_report import check_step_options, history_html, history_markdown, trend
from twinbench.summary import Answer, lines, records

#: Columns of each point in the `--json` object (the store has more; `twinbench.api.history` gives all).
POINT_COLUMNS = ("run_id", "created", "kind", "git_commit", "git_dirty", "config_hash", "status", "p50_ms",
                 "between_spread", "mde", "repeats")


def history(filters: Mapping[str, Any] | None = None, *, store: str | Path | None = None, **by: Any) -> Any:
    """The recorded points matching every filter (twin, runtime, batch, machine, git_commit as a prefix
    of at least 4 hex digits, ...), oldest first, as a DataFrame."""
    return read_history(filters, store=store, **by)


def steps(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> list[tuple[dict[str, Any], Any]]:
    """Steps of every cell on each machine in a history DataFrame: (cell key + machine, Step) pairs;
    two machines' points are never one series."""
    return [(cell, s) for cell, _, found in trend(df, min_effect=min_effect, alpha=alpha) for s in found]


def main(filters: Mapping[str, Any], *, store: Path | None = None, html: Path | None = None,
         min_effect: float = 0.05, alpha: float = 0.01, fail_on_step: bool = False) -> Answer:
    effect, level = check_step_options(min_effect, alpha)  # before any work: one line, exit 2
    df = history(filters, store=store)
    series = trend(df, min_effect=effect, alpha=level)
    text = [history_markdown(df, min_effect=effect, alpha=level).rstrip("\n")]
    if html is not None:
        try:
            write_text(html, history_html(df, min_effect=effect, alpha=level))
        except OSError as exc:
            raise ConfigError(f"--html: cannot write {html} ({exc.strerror or exc})") from None
        text.append(f"html: {html}")
    latest_slower = any(s.verdict == "REGRESSION" and s.index == len(pts) - 1 for _, pts, found in series
                        for s in found)
    cols = [c for c in POINT_COLUMNS if c in df]
    data = {"store": str(store or default_store()), "html": str(html) if html else None,
            "points": len(df), "latest_slower": latest_slower,
            "series": [{"cell": cell, "points": records(pts[cols]), "steps": [asdict(s) for s in found]}
                       for cell, pts, found in series]}
    return Answer(1 if fail_on_step and latest_slower else 0, data, lines(*text))
