"""A Server or Offline cell, run inside its worker process (bench/worker.py hands it over).

Writes, in the run directory's layout (core/layout.py): the cell's load rows
(`cells/<id>.load.json`, rewritten after every LoadGen run), LoadGen's summary and detail logs
(`cells/<id>.loadgen/<nn>-<scenario>-<step>/`), the cell's results row (`cells/<id>.json`, which
the executor reads back; the pipeline moves load cells out of the results table) and, when the
spec asks, the parity outputs. Any failure becomes a `failed` load row with the reason.
"""

from __future__ import annotations

import json
import traceback
from typing import Any, Callable

import numpy as np

from twinbench.core.atomic import write_json
from twinbench.bench.cells import CellSpec
from twinbench.bench.feeds import make_feeds
from twinbench.core.rows import load_row, result_row
from twinbench.core.errors import one_line
from twinbench.core.layout import RunDir
from twinbench.bench import memory
from twinbench.bench.load.scenarios import RUNNERS, LoadRuns, mark_headline
from twinbench.bench.load.settings import LoadSettings
from twinbench.bench.load.sut import loadgen_unavailable
from twinbench.bench.runtimes import get_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.models.registry import load_twin_module

ParityOutputs = Callable[[CellSpec, Any, Any], None]


def qsl_rows(spec: CellSpec, samples: int) -> dict[str, np.ndarray]:
    """The query sample library: the cell's feeds for `samples` rows (deterministic word ids,
    int64 [samples, seq_len], and for a file with several inputs the mask etc. that agree with them)."""
    return make_feeds(spec.inputs, samples, spec.seq_len, spec.vocab_size, spec.input_seed)


def _import_modules(spec: CellSpec) -> None:
    for mod in (*spec.extra_modules, *spec.twin_modules):
        load_twin_module(mod)  # user and test runtimes register themselves on import


def _parity(spec: CellSpec, files: Any, parity_outputs: ParityOutputs) -> None:
    """The parity outputs, from a plain session loaded after the load runs (no lanes running)."""
    opts = LoadOptions(device=spec.device, threads=spec.threads, run_dir=spec.run_dir, settings=spec.settings)
    session = get_runtime(spec.runtime).load(spec.art, opts)
    try:
        parity_outputs(spec, session, files)
    finally:
        session.close()


def run_load_cell(spec: CellSpec, parity_outputs: ParityOutputs | None = None) -> dict[str, Any]:
    """Run the cell's scenario through LoadGen; returns its results row (never raises, except a
    KeyboardInterrupt after the rows are written). `parity_outputs` is the worker's own writer of
    parity outputs (passed in, so this module does not import the worker that imports it)."""
    layout = RunDir(spec.run_dir, spec.cells)
    files = layout.cell(spec.cell_id)
    rows_path = layout.load_rows(spec.cell_id)
    files.row.parent.mkdir(parents=True, exist_ok=True)
    row = result_row(spec.key_row())
    written: list[dict[str, Any]] = []

    def emit(r: dict[str, Any]) -> None:
        written.append(r)
        write_json(rows_path, written)

    key = spec.key_row()
    missing = loadgen_unavailable()
    if missing:  # only the load scenarios need LoadGen: the cell is skipped, the run goes on
        row["status"], row["error"] = "skipped", missing
        emit(load_row(key, scenario=spec.scenario, status="skipped", error=missing))
        write_json(files.row, row)
        return row
    try:
        _import_modules(spec)
        settings = LoadSettings.from_mapping(spec.load)
        runs = LoadRuns(spec=spec, settings=settings, data=qsl_rows(spec, settings.samples),
                        logs=layout.load_logs(spec.cell_id), rel=RunDir(spec.run_dir).rel, emit=emit)
        stop = RUNNERS[spec.scenario](runs)
        if not runs.rows:
            emit(load_row(key, scenario=spec.scenario, status="skipped", error=stop, search_stop=stop))
        mark_headline(written, spec.scenario, stop)
        write_json(rows_path, written)
        best = [r for r in written if r["headline"]]
        if best:
            row["runtime_settings"] = best[0]["runtime_settings"]
        if spec.parity_inputs and parity_outputs is not None:
            _parity(spec, files, parity_outputs)
    except BaseException as exc:  # every failure of a cell is data, including a crash under load
        reason = one_line(exc)
        row["status"], row["error"] = "failed", reason
        mark_headline(written, spec.scenario, "")
        for r in written:
            r["headline"] = False  # a cell that failed under load has no figure
        emit(load_row(key, scenario=spec.scenario, status="failed", error=reason))
        with open(files.log, "a", encoding="utf-8") as log:
            log.write(f"load cell {spec.cell_id} failed:\n{traceback.format_exc()}\n")
        if isinstance(exc, KeyboardInterrupt):
            write_json(files.row, row)
            raise
    row["peak_rss_mb"] = memory.peak_rss_mb()
    write_json(files.row, row)
    return row


def read_load_rows(run_dir: str, cells: str, cell_id: str) -> list[dict[str, Any]]:
    """A cell's load rows as written, [] when the file is missing or unreadable."""
    path = RunDir(run_dir, cells).load_rows(cell_id)
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
