"""The Python API: the CLI's verbs as functions that return data instead of printing it.

Each `twinbench <command>` has a function here with the same meaning, the same function its module
in twinbench/commands/ gives the command line; tables are pandas DataFrames with the columns of
docs/schema.md. Config keys are passed as keyword arguments exactly as they are spelled in a TOML
config (`twins`, `runtimes`, `batches`, `training={"epochs": 1}`, ...), so a notebook and a config
file say the same thing; `sets=["timing.repeats=5"]` takes the command line's `--set` items. Errors are
`twinbench.core.errors` exceptions (the CLI turns the same ones into exit codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from twinbench.commands import bench as bench_cmd
from twinbench.commands import check_system as check_system_cmd
from twinbench.commands import compare as compare_cmd
from twinbench.commands import export as export_cmd
from twinbench.commands import gate as gate_cmd
from twinbench.commands import hardware as hardware_cmd
from twinbench.commands import history as history_cmd
from twinbench.commands import list as list_cmd
from twinbench.commands import parity as parity_cmd
from twinbench.commands import report as report_cmd
from twinbench.commands import run as run_cmd
from twinbench.commands.progress import silent_say
from twinbench.config import load_config
from twinbench.reports.compare import has_regression as has_regression_in
from twinbench.reports.pytest_benchmark import as_run_dir
from twinbench.reports.tables import load_run as _load

Say = Callable[[str], None]


def run(config: str | Path | None = None, *, say: Say = silent_say, sets: Sequence[str] = (),
        **overrides: Any) -> Any:
    """`twinbench run`: train, export, benchmark and verify. `config` is a TOML/JSON file (or None
    for the built-in default), `sets` its `--set` items; keyword arguments override its keys. Returns
    the RunOutcome (`run_dir`, `parity_verdict`, `report_md`, `report_html`, `lead`, `summary`);
    `load_run(outcome.run_dir)` reads it. Pass `say=print` to follow progress."""
    return run_cmd.run(load_config(config, overrides, sets=sets), say=say)


def bench(run_dir: str | Path, config: str | Path | None = None, *, say: Say = silent_say, sets: Sequence[str] = (),
          **overrides: Any) -> Any:
    """`twinbench bench RUN`: measure a run directory's artifacts again into a new run directory,
    with its matrix updated by `config` (a file), `sets` and keyword overrides (`runtimes`, `timing`, ...)."""
    merged = bench_cmd.bench_overrides(Path(config) if config else None, sets)
    merged.update(overrides)
    return bench_cmd.remeasure(run_dir, merged, say=say)


def parity(run_dir: str | Path, runtimes: list[str] | None = None) -> tuple[Any, str]:
    """`twinbench parity RUN`: every artifact on every CPU runtime, untimed; (parity table, verdict)."""
    return parity_cmd.parity_only(run_dir, runtimes=list(runtimes) if runtimes else None)


def judge(run_dir: str | Path, onnx: str | Path, twin: str, runtimes: list[str] | None = None) -> Any:
    """`twinbench parity RUN --onnx FILE --twin NAME`: is FILE still NAME's model? A Judgement
    (`where`, `parity`, `verdict`, `divergent`)."""
    return parity_cmd.judge(run_dir, onnx, twin, runtimes=list(runtimes) if runtimes else None)


def compare(base: str | Path, candidate: str | Path, *, min_effect: float = 0.05, alpha: float = 0.01,
            allow_hardware: bool = False, allow_versions: bool = False, remeasure: bool = False,
            repeats: int | None = None, say: Say = silent_say) -> Any:
    """`twinbench compare BASE CAND`: one row per common cell with its verdict (REGRESSION,
    IMPROVEMENT, SAME, INCONCLUSIVE) and reason. Run directories, pytest-benchmark JSON files and
    `.benchmarks/` folders are all accepted. `has_regression(df)` is the CLI's exit-1 rule."""
    return compare_cmd.compare(base, candidate, min_effect=min_effect, alpha=alpha, allow_hardware=allow_hardware,
                               allow_versions=allow_versions, remeasure=remeasure, repeats=repeats, say=say)


def gate(base: str | Path, candidate: str | Path, *, say: Say = silent_say, **settings: Any) -> Any:
    """`twinbench gate BASE CAND`: both runs' artifacts measured here, interleaved and sequentially
    (docs/ci.md); `settings` are GateSettings fields (`min_effect`, `alpha`, `max_repeats`,
    `time_budget_s`). Returns the GateOutcome: `.verdicts` (compare rows with `looks`, `level`,
    `stop`), `.base` / `.cand` (the two new runs), `.bench_s`, `.report_md`."""
    return gate_cmd.gate_runs(base, candidate, settings=gate_cmd.GateSettings(**settings), say=say)


def has_regression(df: Any) -> bool:
    return has_regression_in(df)


def report(run_dir: str | Path, baseline: str | Path | None = None) -> tuple[Path, Path]:
    """`twinbench report RUN [--baseline BASE]`: rebuild report.md and report.html; their paths."""
    return report_cmd.report(run_dir, baseline)


def summary(run_dir: str | Path, baseline: str | Path | None = None) -> str:
    """`twinbench report RUN --summary`: the run's one-line summary (nothing is written)."""
    return report_cmd.summary(run_dir, baseline)


def hardware(runs: Sequence[str | Path], baseline: int = 0) -> Any:
    """`twinbench hardware RUN...`: one row per cell, p50 and ratio to the baseline per machine."""
    return hardware_cmd.hardware(runs, baseline)


def load_run(run_dir: str | Path) -> Any:
    """A complete run directory as RunData: `.results`, `.parity`, `.training`, `.params`,
    `.repeats`, `.rounds`, `.load` (DataFrames), `.manifest` (dict), `.samples(row)` (ns array)."""
    return _load(as_run_dir(run_dir))


def history(filters: Mapping[str, Any] | None = None, *, store: str | Path | None = None, **by: Any) -> Any:
    """`twinbench history`: the recorded points matching every filter (twin, runtime, batch, ...),
    oldest first, as a DataFrame; `steps(df)` finds where each cell's level changed."""
    return history_cmd.history(filters, store=store, **by)


def steps(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> list[tuple[dict[str, Any], Any]]:
    """Steps of every cell on each machine in a history DataFrame: (cell key + machine, Step) pairs;
    two machines' points are never one series."""
    return history_cmd.steps(df, min_effect=min_effect, alpha=alpha)


def export(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> str:
    """`twinbench export RUN --format F`: the export as JSON text (also written to `out` when given)."""
    return export_cmd.export(run_dir, fmt, out)


def check_system(seconds: float = 3.0) -> list[Any]:
    """`twinbench check-system`: the findings (name, value, level ok|warn|info, advice)."""
    return check_system_cmd.check(seconds)


def listing(twin_modules: Sequence[str] = ()) -> Any:
    """`twinbench list`: twins, exporters, variants and runtimes (each with why it is unavailable)."""
    return list_cmd.listing(twin_modules)


__all__ = ["run", "bench", "parity", "judge", "compare", "gate", "has_regression", "report", "summary", "hardware",
           "load_run", "history", "steps", "export", "check_system", "listing"]
