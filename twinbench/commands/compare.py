"""`twinbench compare BASE CAND`: per-cell verdicts (REGRESSION, IMPROVEMENT, SAME, INCONCLUSIVE)
between two runs on process-level figures (reports/compare.py); with `--remeasure`, both runs'
artifacts are first measured again here, interleaved (commands/bench.py), and those are compared.

`compare` is the Python API's; `main` is the command line's body: exit 1 on a regression (and on an
INCONCLUSIVE cell with `--fail-inconclusive`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Callable

from twinbench.commands.bench import remeasure_interleaved
from twinbench.commands.progress import silent_say
from twinbench.config import check_recorded_config
from twinbench.core.errors import ConfigError
from twinbench.reports.compare import compare_markdown, compare_runs, has_regression
from twinbench.summary import Answer, compare_summary, lines

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]


def compare(base: str | Path, candidate: str | Path, *, min_effect: float = 0.05, alpha: float = 0.01,
            allow_hardware: bool = False, allow_versions: bool = False, remeasure: bool = False,
            repeats: int | None = None, twin_modules: Sequence[str] = (), say: Say = silent_say,
            progress: Progress | None = None) -> Any:
    """One row per common cell with its verdict and reason (a DataFrame, `df.attrs["evidence"]` says
    what the verdicts rest on). Run directories, pytest-benchmark JSON files and `.benchmarks/`
    folders are all accepted. `twin_modules` (with `remeasure`): the runs' own twins' modules, given
    here (a run directory never imports them by itself)."""
    for path in (base, candidate):
        check_recorded_config(path)
    a, b, evidence = base, candidate, "two independent runs"
    if remeasure:
        overrides = {"timing": {"repeats": repeats}} if repeats else None
        oa, ob = remeasure_interleaved(base, candidate, overrides, say=say, progress=progress,
                                       twin_modules=twin_modules)
        a, b = oa.run_dir, ob.run_dir
        evidence = f"interleaved re-measurement of both runs' artifacts ({oa.run_dir.name}, {ob.run_dir.name})"
    elif repeats:
        raise ConfigError("--repeats: only with --remeasure (a stored run keeps its own repeats)")
    elif twin_modules:
        raise ConfigError("--twin-module: only with --remeasure (comparing stored runs imports nothing)")
    return compare_runs(a, b, min_effect=min_effect, alpha=alpha, allow_hardware=allow_hardware,
                        allow_versions=allow_versions, evidence=evidence)


def exit_code(df: Any, *, fail_inconclusive: bool = False) -> int:
    """1 on a regression, or on an INCONCLUSIVE cell when asked; else 0."""
    inconclusive = fail_inconclusive and bool((df["verdict"] == "INCONCLUSIVE").any())
    return 1 if has_regression(df) or inconclusive else 0


def main(base: Path, candidate: Path, *, fail_inconclusive: bool = False, say: Say = silent_say,
         progress: Progress | None = None, **options: Any) -> Answer:
    """`twinbench compare`: `options` are `compare`'s keywords (min_effect, alpha, allow_hardware,
    allow_versions, remeasure, repeats)."""
    df = compare(base, candidate, say=say, progress=progress, **options)
    code = exit_code(df, fail_inconclusive=fail_inconclusive)
    return Answer(code, compare_summary(df, code, df.attrs.get("evidence", "two independent runs")),
                  lines(compare_markdown(df).rstrip("\n")))
