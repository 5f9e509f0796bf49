"""`run_cells`: the one runner. `twinbench run` (timed cells) and `twinbench parity` (untimed cells)
both come through here; the executor decides where each cell's worker runs."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twinbench.bench.cells import CellSpec
from twinbench.bench.executors import Executor, get_executor
from twinbench.bench.executors.base import expand_cells
from twinbench.core.schema import RESULTS_COLUMNS

Progress = Callable[[int, int, str], None]


def run_cells(specs: Iterable[CellSpec], executor: Executor | None = None, *, progress: Progress | None = None,
              timeout_s: float = 300) -> Any:
    """Run every cell through `executor` (default: the local one, fresh processes, one at a time).
    Returns a DataFrame with schema.RESULTS_COLUMNS, rows in submission order; never raises for
    one cell."""
    import pandas as pd

    specs = list(specs)
    executor = executor or get_executor("local", timeout_s=timeout_s)
    specs = expand_cells(executor, specs)  # e.g. one copy of every cell per kind of machine
    order = {_where(spec): i for i, spec in enumerate(specs)}
    rows: list[dict[str, Any] | None] = [None] * len(specs)
    try:
        for spec in specs:
            executor.submit(spec)
        for done, (spec, row) in enumerate(executor.results(), start=1):
            rows[order[_where(spec)]] = row
            if progress is not None:
                progress(done, len(specs), spec.cell_id)
    finally:
        executor.close()
    return pd.DataFrame([r for r in rows if r is not None], columns=RESULTS_COLUMNS)


def _where(spec: CellSpec) -> tuple[str, str, str]:
    """A cell's identity across run directories (an interleaved re-measurement runs two)."""
    return (str(spec.run_dir), spec.cells, spec.cell_id)
