"""Finish stage: from the worker processes' CellRuns to a complete run directory — results (one
headline row per cell over its processes), load, repeats, rounds, parity and the other tables —
then the manifest marked complete and the run recorded in the history store. `twinbench run` and
`twinbench bench` both end here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from twinbench.bench.load.table import split_load
from twinbench.bench.parity.table import parity_cross_table, parity_table
from twinbench.bench.parity.verdict import overall_verdict
from twinbench.bench.repeats import aggregate
from twinbench.bench.runner import CellRun
from twinbench.core.benchlock import overlaps_recorded
from twinbench.core.machine import row_fingerprints
from twinbench.core.manifest import update_manifest
from twinbench.core.tables import read_table, write_table
from twinbench.bench.calibration import CALIBRATION_TWIN
from twinbench.reports.history import record_quietly


def finish_run(run_dir: Path, manifest: dict[str, Any], runs: Sequence[CellRun], *, parity: bool,
               twin_modules: Sequence[str] = (), extra_rows: Sequence[dict[str, Any]] = (),
               histories: Sequence[Any] = (), param_tables: Sequence[Any] = (),
               timings: dict[str, float] | None = None, t0: float | None = None) -> str:
    """Write every table of the run and mark it complete; returns the parity verdict."""
    import pandas as pd

    run_id = manifest["run_id"]
    single, load = split_load(runs)  # Server/Offline cells: the load table
    cells, repeats, rounds = aggregate(single)
    results = pd.concat([pd.DataFrame(list(extra_rows)), cells], ignore_index=True) if extra_rows else cells
    for table in (results, repeats, rounds):
        table["run_id"] = run_id
    for table in (results, repeats):  # which machine measured each row (a Ray node's own, else this one)
        table["machine_fingerprint"] = row_fingerprints(table.get("machine_info"), manifest, len(table))
    write_table(results, run_dir, "results")
    if len(load):
        write_table(load.assign(run_id=run_id), run_dir, "load")
    write_table(repeats, run_dir, "repeats")
    write_table(rounds, run_dir, "rounds")
    parity_df = parity_table(run_dir, twin_modules=twin_modules) if parity else pd.DataFrame()
    write_table(parity_df, run_dir, "parity")
    if parity:  # informational: torch vs keras weights, exporter vs exporter (docs/parity.md)
        write_table(parity_cross_table(run_dir), run_dir, "parity_cross")
    write_table(pd.concat(list(histories), ignore_index=True) if histories else pd.DataFrame(), run_dir, "training")
    write_table(pd.concat(list(param_tables), ignore_index=True) if param_tables else pd.DataFrame(), run_dir,
                "params")
    verdict = overall_verdict(parity_df)
    _record_overlaps(run_dir, manifest, results)
    timings = dict(timings or {})
    if t0 is not None:
        timings["total_s"] = round(time.perf_counter() - t0, 2)
    update_manifest(run_dir, manifest, status="complete", parity_verdict=verdict, timings=timings,
                    cell_counts=cell_counts(run_dir))
    record_quietly(run_dir)  # the history store (reports/history.py; TWINBENCH_HISTORY=off skips it)
    return verdict


def _record_overlaps(run_dir: Path, manifest: dict[str, Any], results: Any) -> None:
    """A run that overlapped another benchmark (`--allow-overlap`, either side) says so in its
    manifest and flags its cells with an `overlap` column, rewriting the results table."""
    others = overlaps_recorded(run_dir)
    if others:
        update_manifest(run_dir, manifest, overlapped_by=others)
    if others or manifest.get("overlap"):
        write_table(results.assign(overlap=True), run_dir, "results")


def cell_counts(run_dir: Path) -> dict[str, int]:
    """How the cells the user asked for ended: ok, invalid (noisy), failed (crash, timeout, runtime
    or export error), skipped (runtime or device not here). Single-stream cells from the results
    table, Server/Offline cells from the load table (failed when any of its rows failed, skipped
    when all were); the machine's calibration cell is not the user's and is not counted. The CLI's
    exit code rests on these (twinbench/cli.py: 4 when a cell failed)."""
    counts = {"ok": 0, "invalid": 0, "failed": 0, "skipped": 0}
    results = read_table(run_dir, "results")
    if len(results):
        mine = results[results["twin"].astype(str) != CALIBRATION_TWIN]
        for status, n in mine["status"].astype(str).value_counts().items():
            counts[status if status in counts else "failed"] += int(n)
    load = read_table(run_dir, "load")
    if len(load):
        cell = ["twin", "artifact", "runtime", "device", "batch", "seq_len", "threads", "scenario"]
        for _, rows in load.groupby([load[c].astype(str) for c in cell], sort=False):
            statuses = set(rows["status"].astype(str))
            key = "failed" if "failed" in statuses else "skipped" if statuses == {"skipped"} else "ok"
            counts[key] += 1
    return counts
