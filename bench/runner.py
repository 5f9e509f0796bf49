"""`run_cells`: the one runner. `twinbench run` (timed cells) and `twinbench parity` (untimed cells)
both come through here; the executor decides where each cell's worker runs.

What comes back is a list of `CellRun`: each spec with the row its worker wrote, so every later
stage pairs a row with its spec by holding both, never by their positions in two lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from twinbench.bench.cells import CellSpec
from twinbench.bench.executors import Executor, get_executor
from twinbench.bench.executors.base import expand_cells
from twinbench.core.schema import RESULTS_COLUMNS

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CellRun:
    """One worker process of a cell: what it was asked (`spec`) and the results row it left."""

    spec: CellSpec
    row: dict[str, Any]


def run_cells(specs: Iterable[CellSpec], executor: Executor | None = None, *, progress: Progress | None = None,
              timeout_s: float = 300) -> list[CellRun]:
    """Run every cell through `executor` (default: the local one, fresh processes, one at a time).
    Returns one CellRun per cell the executor really ran (its `expand` may add copies), in
    submission order; never raises for one cell."""
    specs = list(specs)
    executor = executor or get_executor("local", timeout_s=timeout_s)
    specs = expand_cells(executor, specs)  # e.g. one copy of every cell per kind of machine
    done: dict[tuple[str, str, str], dict[str, Any]] = {}
    try:
        for spec in specs:
            executor.submit(spec)
        for n, (spec, row) in enumerate(executor.results(), start=1):
            done[_where(spec)] = row
            if progress is not None:
                progress(n, len(specs), spec.cell_id)
    finally:
        executor.close()
    return [CellRun(spec, done[_where(spec)]) for spec in specs if _where(spec) in done]


def rows_frame(runs: Iterable[CellRun]) -> Any:
    """The rows of `runs` as a DataFrame with the results columns (for tests and quick looks)."""
    import pandas as pd

    return pd.DataFrame([r.row for r in runs], columns=RESULTS_COLUMNS)


def _where(spec: CellSpec) -> tuple[str, str, str]:
    """A cell's identity across run directories (an interleaved re-measurement runs two)."""
    return (str(spec.run_dir), spec.cells, spec.cell_id)
