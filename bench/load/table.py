"""The `load` table: gathered by the pipeline from the rows Server/Offline workers wrote.

Load cells come back from the runner like every cell (a CellRun each); `split_load` moves them
out of the results table, whose figures are single-stream timings, and reads their load rows
instead. A cell whose worker died (a crash under load, a timeout) keeps the rows of the runs it
finished and gains a `failed` row with the executor's reason.
"""

from __future__ import annotations

from typing import Any, Iterable

from twinbench.bench.load.cell import read_load_rows
from twinbench.bench.load.settings import SINGLE_STREAM
from twinbench.core.rows import load_row
from twinbench.core.schema import LOAD_COLUMNS


def split_load(runs: Iterable[Any]) -> tuple[list[Any], Any]:
    """(the single-stream CellRuns, the load table) from `run_cells`' CellRuns: each Server/Offline
    cell's load rows, read from its files, with a failed row added when its worker died."""
    import pandas as pd

    keep: list[Any] = []
    rows: list[dict[str, Any]] = []
    for run in runs:
        spec, cell = run.spec, run.row
        if spec.scenario == SINGLE_STREAM:
            keep.append(run)
            continue
        found = read_load_rows(spec.run_dir, spec.cells, spec.cell_id)
        if cell.get("status") == "failed" and not any(r.get("status") == "failed" for r in found):
            for r in found:
                r["headline"] = False
            found.append(load_row(spec.key_row(), scenario=spec.scenario, status="failed", error=str(cell.get("error"))))
        rows += found
    return keep, pd.DataFrame(rows, columns=LOAD_COLUMNS)


def headline_rows(load: Any) -> Any:
    """One row per load cell: its headline run, or its failed/skipped row when it has none."""
    if load is None or not len(load):
        return load
    cell = ["twin", "artifact", "runtime", "device", "seq_len", "threads", "scenario"]
    out = []
    for _, g in load.groupby(cell, sort=True, dropna=False):
        best = g[g["headline"].astype(bool)]
        if len(best):
            out.append(best.iloc[0])
            continue
        bad = g[g["status"].isin(["failed", "skipped"])]
        out.append(bad.iloc[-1] if len(bad) else g.iloc[-1])
    import pandas as pd

    return pd.DataFrame(out).reset_index(drop=True)
