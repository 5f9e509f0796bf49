"""The Python API: the CLI's verbs as functions that return data instead of printing it.

`twinbench run|bench|parity|compare|gate|report|history` each have a function here with the same
meaning; tables are pandas DataFrames with the columns of docs/schema.md. Config keys are passed
as keyword arguments exactly as they are spelled in a TOML config (`twins`, `runtimes`, `batches`,
`training={"epochs": 1}`, ...), so a notebook and a config file say the same thing. Errors are
`twinbench.core.errors` exceptions (the CLI turns the same ones into exit codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from twinbench.commands.bench import remeasure
from twinbench.commands.gate import GateSettings, gate_runs
from twinbench.commands.parity import parity_only
from twinbench.commands.run import run as run_command
from twinbench.config import load_config, read_config_file
from twinbench.reports import build_reports
from twinbench.reports.compare import compare_runs
from twinbench.reports.compare import has_regression as has_regression_in
from twinbench.reports.history import history as _history
from twinbench.reports.pytest_benchmark import as_run_dir
from twinbench.reports.history_report import trend
from twinbench.reports.tables import load_run as _load

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default `say`: an API call prints nothing; pass `say=print` to follow progress."""


def run(config: str | Path | None = None, *, say: Say = _quiet, **overrides: Any) -> Any:
    """`twinbench run`: train, export, benchmark and verify. `config` is a TOML/JSON file (or None
    for the built-in default); keyword arguments override its keys. Returns the RunOutcome
    (`run_dir`, `parity_verdict`, `report_md`, `report_html`); `load_run(outcome.run_dir)` reads it."""
    return run_command(load_config(config, overrides), say=say)


def bench(run_dir: str | Path, config: str | Path | None = None, *, say: Say = _quiet, **overrides: Any) -> Any:
    """`twinbench bench RUN`: measure a run directory's artifacts again into a new run directory,
    with its matrix updated by `config` (a file) and keyword overrides (`runtimes`, `timing`, ...)."""
    merged: dict[str, Any] = dict(read_config_file(config)) if config else {}
    merged.update(overrides)
    return remeasure(run_dir, merged, say=say)


def parity(run_dir: str | Path, runtimes: list[str] | None = None) -> tuple[Any, str]:
    """`twinbench parity RUN`: every artifact on every CPU runtime, untimed; (parity table, verdict)."""
    return parity_only(run_dir, runtimes=list(runtimes) if runtimes else None)


def compare(base: str | Path, candidate: str | Path, *, min_effect: float = 0.05, alpha: float = 0.01,
            allow_hardware: bool = False, allow_versions: bool = False) -> Any:
    """`twinbench compare BASE CAND`: one row per common cell with its verdict (REGRESSION,
    IMPROVEMENT, SAME, INCONCLUSIVE) and reason. Run directories, pytest-benchmark JSON files and
    `.benchmarks/` folders are all accepted. `has_regression(df)` is the CLI's exit-1 rule."""
    return compare_runs(base, candidate, min_effect=min_effect, alpha=alpha, allow_hardware=allow_hardware,
                        allow_versions=allow_versions)


def gate(base: str | Path, candidate: str | Path, *, say: Say = _quiet, **settings: Any) -> Any:
    """`twinbench gate BASE CAND`: both runs' artifacts measured here, interleaved and sequentially
    (docs/ci.md); `settings` are GateSettings fields (`min_effect`, `alpha`, `max_repeats`,
    `time_budget_s`). Returns the GateOutcome: `.verdicts` (compare rows with `looks`, `level`,
    `stop`), `.base` / `.cand` (the two new runs), `.bench_s`, `.report_md`."""
    return gate_runs(base, candidate, settings=GateSettings(**settings), say=say)


def has_regression(df: Any) -> bool:
    return has_regression_in(df)


def report(run_dir: str | Path) -> tuple[Path, Path]:
    """`twinbench report RUN`: rebuild report.md and report.html; returns their paths."""
    return build_reports(run_dir)


def load_run(run_dir: str | Path) -> Any:
    """A complete run directory as RunData: `.results`, `.parity`, `.training`, `.params`,
    `.repeats`, `.rounds`, `.load` (DataFrames), `.manifest` (dict), `.samples(row)` (ns array)."""
    return _load(as_run_dir(run_dir))


def history(filters: Mapping[str, Any] | None = None, *, store: str | Path | None = None, **by: Any) -> Any:
    """`twinbench history`: the recorded points matching every filter (twin, runtime, batch, ...),
    oldest first, as a DataFrame; `steps(df)` finds where each cell's level changed."""
    return _history(filters, store=store, **by)


def steps(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> list[tuple[dict[str, Any], Any]]:
    """Steps of every cell on each machine in a history DataFrame: (cell key + machine, Step) pairs;
    two machines' points are never one series."""
    return [(cell, s) for cell, _, found in trend(df, min_effect=min_effect, alpha=alpha) for s in found]


__all__ = ["run", "bench", "parity", "compare", "has_regression", "report", "load_run", "history", "steps"]
