"""The `--json` summaries: one JSON object per command, for CI steps and scripts.

Every object has `schema_version` (this format's version, `SCHEMA_VERSION`), `command` and
`exit_code`; a failure has `error` (one line) and nothing else. The rest depends on the command
(README "JSON output"). Counts come from the run directory's own tables, so a summary says what the
report says. `--json` prints the object on stdout instead of the text; `--json-out FILE` writes it
to FILE (atomically) and leaves the text on stdout.

Versions: 1 = the first versioned format (before it the objects had no `schema_version`; `run`,
`bench`, `parity`, `compare` and `check-system` kept their keys, `summary` was added to `run`
and `bench`, and `report`, `hardware`, `history`, `list` and `export` gained `--json`).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from twinbench.core.atomic import write_text
from twinbench.core.errors import ConfigError
from twinbench.core.layout import RunDir

SCHEMA_VERSION = 1


def _nothing() -> None:
    """The text of an answer that has none."""


@dataclass(frozen=True)
class Answer:
    """What a command hands the CLI: its exit code, its `--json` object (without the envelope's keys)
    and how to show it as text. Command modules build it; twinbench/cli.py only prints it."""

    code: int
    data: Mapping[str, Any] = field(default_factory=dict)
    show: Callable[[], None] = _nothing


def say_error(msg: str) -> None:
    """The one error line a failed command leaves on stderr (the line a CI log reader looks for)."""
    print(f"twinbench: error: {msg}", file=sys.stderr, flush=True)


def lines(*text: str, error: str | None = None) -> Callable[[], None]:
    """An answer's text: these lines on stdout, then `error` (why the exit code is not 0) on stderr."""
    def show() -> None:
        if text:
            print("\n".join(text))
        if error:
            say_error(error)
    return show


def envelope(command: str | None, exit_code: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """The object a command's `--json` writes: the version, the command, its exit code, then `data`
    (whose own copies of those three keys, if any, are the same values)."""
    head = {"schema_version": SCHEMA_VERSION, "command": command, "exit_code": exit_code}
    return {**head, **{k: v for k, v in data.items() if k not in head}}


def dumps(obj: Mapping[str, Any], indent: int | None = None) -> str:
    """Strict JSON (on one line unless `indent`): NaN and infinities as null, paths and other objects as text."""
    return json.dumps(_clean(obj), allow_nan=False, indent=indent)


def emit(obj: Mapping[str, Any], *, stdout: bool = True, file: Path | None = None) -> None:
    """The object on stdout and/or into `file` (written whole or not at all)."""
    text = dumps(obj)
    if stdout:
        print(text)
    if file is not None:
        try:
            write_text(Path(file), text + "\n")
        except OSError as exc:
            raise ConfigError(f"--json-out: cannot write {file} ({exc.strerror or exc})") from None


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / pandas scalars
        try:
            return _clean(obj.item())
        except (TypeError, ValueError):
            pass
    return obj if isinstance(obj, (str, int, bool, type(None))) else str(obj)


def _counts(values: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _table(run_dir: Path, name: str) -> Any:
    import pandas as pd

    path = RunDir(run_dir).table(name)
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def records(df: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON-able records (pandas' own conversion: NA as null, numpy types as Python)."""
    return json.loads(df.to_json(orient="records")) if df is not None and len(df) else []


def run_summary(run_dir: Path, parity: str, *, report_md: Path | None = None,
                report_html: Path | None = None, summary: str | None = None) -> dict[str, Any]:
    """`run`, `bench` and `report`: the run's verdict, paths, how many cells ended in each status,
    and the one-line summary (reports/lead.py)."""
    results, checks = _table(run_dir, "results"), _table(run_dir, "parity")
    return {
        "parity": parity, "run_dir": str(run_dir), "run_id": Path(run_dir).name,
        "report_md": str(report_md) if report_md else None, "report_html": str(report_html) if report_html else None,
        "cells": len(results), "cell_status": _counts(results["status"]) if len(results) else {},
        "parity_checks": len(checks), "parity_verdicts": _counts(checks["verdict"]) if len(checks) else {},
        "summary": summary,
    }


def parity_summary(run_dir: Path, df: Any, verdict: str) -> dict[str, Any]:
    """`parity`: the verdict and the verdict of every check."""
    has = df is not None and len(df)
    return {"parity": verdict, "run_dir": str(run_dir), "parity_checks": len(df) if has else 0,
            "parity_verdicts": _counts(df["verdict"]) if has else {}}


def compare_summary(df: Any, exit_code: int, evidence: str) -> dict[str, Any]:
    """`compare`'s whole object: verdict counts and one entry per compared cell (an INCONCLUSIVE
    speed cell's `more_per_side`: how many more processes a side would likely decide it)."""
    if len(df) and "more_per_side" in df:
        df = df.assign(more_per_side=df["more_per_side"].astype("float64").round().astype("Int64"))
    return envelope("compare", exit_code, {
        "base": df.attrs.get("base"), "candidate": df.attrs.get("candidate"), "evidence": evidence,
        "regression": bool(len(df)) and bool((df["verdict"] == "REGRESSION").any()),
        "verdicts": _counts(df["verdict"]) if len(df) else {}, "cells": records(df)})
