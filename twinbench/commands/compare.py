"""`twinbench compare BASE CAND`: per-cell verdicts (REGRESSION, IMPROVEMENT, SAME, INCONCLUSIVE)
between two runs on process-level figures (reports/compare.py); with `--remeasure`, both runs'
artifacts are measured again here, interleaved and sequentially, as `twinbench gate` measures them
(commands/gate.py), and each cell is judged at the look where it stopped.

`compare` is the Python API's; `main` is the command line's body: exit 1 on a regression (and on an
INCONCLUSIVE cell with `--fail-inconclusive`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Callable

from twinbench.commands.gate import MAX_REPEATS, TIME_BUDGET_S, GateSettings, exit_code, gate_runs
from twinbench.commands.progress import silent_say
from twinbench.config import check_recorded_config
from twinbench.core.errors import ConfigError
from twinbench.reports.compare import compare_markdown, compare_runs
from twinbench.summary import Answer, compare_summary, lines

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]


def compare(base: str | Path, candidate: str | Path, *, min_effect: float = 0.05, alpha: float = 0.01,
            allow_hardware: bool = False, allow_versions: bool = False, remeasure: bool = False,
            repeats: int | None = None, max_repeats: int | None = None, time_budget: float | None = None,
            twin_modules: Sequence[str] = (), say: Say = silent_say, progress: Progress | None = None) -> Any:
    """One row per common cell with its verdict and reason (a DataFrame, `df.attrs["evidence"]` says
    what the verdicts rest on). Run directories, pytest-benchmark JSON files and `.benchmarks/`
    folders are all accepted. `twin_modules` (with `remeasure`): the runs' own twins' modules, given
    here (a run directory never imports them by itself)."""
    for path in (base, candidate):
        check_recorded_config(path)
    if remeasure:
        settings = GateSettings(min_effect=min_effect, alpha=alpha,
                                max_repeats=MAX_REPEATS if max_repeats is None else max_repeats,
                                time_budget_s=TIME_BUDGET_S if time_budget is None else time_budget)
        overrides = {"timing": {"repeats": repeats}} if repeats else None
        return gate_runs(base, candidate, overrides, settings=settings, say=say, progress=progress,
                         twin_modules=twin_modules).verdicts
    for name, given in (("--repeats", repeats), ("--max-repeats", max_repeats), ("--time-budget", time_budget)):
        if given is not None:
            raise ConfigError(f"{name}: only with --remeasure (a stored run keeps its own processes)")
    if twin_modules:
        raise ConfigError("--twin-module: only with --remeasure (comparing stored runs imports nothing)")
    return compare_runs(base, candidate, min_effect=min_effect, alpha=alpha, allow_hardware=allow_hardware,
                        allow_versions=allow_versions)


def main(base: Path, candidate: Path, *, fail_inconclusive: bool = False, say: Say = silent_say,
         progress: Progress | None = None, **options: Any) -> Answer:
    """`twinbench compare`: `options` are `compare`'s keywords (min_effect, alpha, allow_hardware,
    allow_versions, remeasure, repeats, max_repeats, time_budget)."""
    df = compare(base, candidate, say=say, progress=progress, **options)
    code = exit_code(df, fail_inconclusive=fail_inconclusive)
    return Answer(code, compare_summary(df, code, df.attrs.get("evidence", "two independent runs")),
                  lines(compare_markdown(df).rstrip("\n")))
