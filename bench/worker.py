"""The cell worker: `python -m twinbench.bench.worker SPEC.json` runs one cell (or a JSON list of
them) in this fresh process. Executors (bench/executors/) decide where and when that happens.

A worker reads only the files its spec names (`CellSpec.files()`) and writes the cell's files in
the run directory's layout (core/layout.py): its results row, int64 ns per timed iteration,
float64 outputs on the parity inputs (+ per-batch errors) and a log. Whatever happens to a cell
becomes a `failed` row; a run never stops for one cell."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.core.atomic import save_npy, save_npz, write_json
from twinbench.bench.cells import CellSpec
from twinbench.bench.feeds import batch_feeds, make_feeds, unpack
from twinbench.core.rows import result_row
from twinbench.core.errors import one_line
from twinbench.core.layout import CellFiles, RunDir
from twinbench.bench import memory
from twinbench.bench.load.cell import run_load_cell
from twinbench.bench.runtimes import get_runtime
from twinbench.bench.runtimes.base import HARNESS_SETTINGS, LoadOptions
from twinbench.bench.stats import summarize, validity
from twinbench.bench.timing import measure_rounds, warm_up
from twinbench.exporters.inspect import flops_estimate
from twinbench.models.registry import load_twin_module


#: The executor tells a worker the probe time of the machine's fast state seen so far in the run.
FAST_PROBE_ENV = "TWINBENCH_FAST_PROBE_NS"
#: ... and the most memory (MB) it may use (bench/executors/local.py; the driver also watches its RSS).
MEMORY_ENV = "TWINBENCH_WORKER_MEMORY_MB"


def make_inputs(spec: CellSpec) -> dict[str, np.ndarray]:
    """The cell's feeds, deterministic from its seed: word ids in [2, vocab_size) (no PAD/UNK),
    int64 [batch, seq_len], as the one `tokens` input of a twin; for a file with several inputs,
    padded ids and a mask, type ids and positions that agree with them (bench/feeds.py)."""
    return make_feeds(spec.inputs, spec.batch, spec.seq_len, spec.vocab_size, spec.input_seed)


def cell_files(spec: CellSpec) -> CellFiles:
    return RunDir(spec.run_dir, spec.cells).cell(spec.cell_id)


def empty_row(spec: CellSpec) -> dict[str, Any]:
    return result_row(spec.key_row())


def _import_modules(spec: CellSpec) -> None:
    for mod in (*spec.extra_modules, *spec.twin_modules):
        load_twin_module(mod)  # a dotted name or a .py path, imported once


def _flops(spec: CellSpec, mean_ms: float) -> tuple[float, float]:
    """FLOPs per call counted on the spec's `flops_source` ONNX file, else NaN."""
    if not spec.flops_source:
        return math.nan, math.nan
    path = Path(spec.run_dir) / spec.flops_source
    try:
        flops = float(flops_estimate(path, spec.batch, spec.seq_len))
    except Exception:  # an estimate is optional; never fail a cell for it
        return math.nan, math.nan
    rate = flops / (mean_ms / 1e3) / 1e9 if mean_ms and mean_ms > 0 else math.nan
    return flops, rate


def _parity_outputs(spec: CellSpec, session: Any, p: CellFiles) -> None:
    """Run every named parity batch once; save float64 outputs, and per-batch errors beside them."""
    src = Path(spec.run_dir) / spec.parity_inputs
    outputs: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    with np.load(src, allow_pickle=False) as z:
        batches = unpack({k: z[k] for k in z.files})
    for name, x in batches.items():
        try:
            call = session.bind(batch_feeds(spec.inputs, x))
            result = call()
            session.sync()
            outputs[name] = np.asarray(session.fetch(result)[0], dtype=np.float64)
        except Exception as exc:  # one batch shape a runtime cannot take is a parity finding
            errors[name] = one_line(exc)
    save_npz(p.outputs, outputs)
    write_json(p.outputs_errors, {"inputs": str(spec.parity_inputs), "errors": errors})


def _delayed(call: Any, spec: CellSpec) -> Any:
    """A test hook: `test_delay_ns` in a cell's settings adds a busy-wait of that many ns to every
    timed call, a real and exactly known slowdown for checking regression verdicts end to end
    (benchmarks/ab_regression.py). Busy, not sleeping: a sleep would free the core. A table
    {batch = ns, ...} gives each batch size its own delay (benchmarks/gate.py: +10% of each cell)."""
    delay = spec.settings.get("test_delay_ns", 0) or 0
    if isinstance(delay, dict):
        delay = delay.get(str(spec.batch), 0) or 0
    delay = int(delay)
    return busy_after(call, delay) if delay > 0 else call


def busy_after(call: Any, delay_ns: int) -> Any:
    """`call` followed by a busy-wait of `delay_ns` (also the load tests' slowed runtime)."""
    pc = time.perf_counter_ns

    def slower() -> Any:
        out = call()
        end = pc() + delay_ns
        while pc() < end:
            pass
        return out

    return slower


def run_cell(spec: CellSpec) -> dict[str, Any]:
    """Run one cell in this process and write its files; returns the row (never raises).
    An untimed cell (`spec.timed` off) loads, runs once and computes the parity outputs only."""
    if spec.scenario != "single-stream":  # Server / Offline: MLPerf LoadGen (bench/load/)
        return run_load_cell(spec, parity_outputs=_parity_outputs)
    p = cell_files(spec)
    p.row.parent.mkdir(parents=True, exist_ok=True)
    row = empty_row(spec)
    session = None
    try:
        _import_modules(spec)
        plan = spec.plan
        runtime = get_runtime(spec.runtime)
        settings = {k: v for k, v in spec.settings.items() if k not in HARNESS_SETTINGS}
        opts = LoadOptions(device=spec.device, threads=spec.threads, run_dir=spec.run_dir, settings=settings)
        t0 = time.perf_counter_ns()
        session = runtime.load(spec.art, opts)
        row["cold_load_ms"] = (time.perf_counter_ns() - t0) / 1e6
        stats: dict[str, Any] = {}
        if spec.timed:
            call = session.bind(make_inputs(spec))
            sync = None if spec.device == "cpu" else session.sync
            t2 = time.perf_counter_ns()
            call()
            session.sync()
            row["cold_first_run_ms"] = (time.perf_counter_ns() - t2) / 1e6
            row["warmup_iters"] = warm_up(call, sync, plan)
            hint = int(os.environ.get(FAST_PROBE_ENV, "0") or 0) or None
            ns, rounds = measure_rounds(_delayed(call, spec), sync, plan, fast_probe_ns=hint)
            save_npy(p.samples, ns)
            save_npy(p.rounds, rounds)
            stats = summarize(ns, spec.batch)
            row.update(stats)
            row["samples_file"] = f"{spec.cells}/{p.samples.name}"
        info = dict(session.info())
        row["io_in_timing"] = bool(info.pop("io_in_timing", False))
        row["threads_actual"] = info.get("threads", info.get("intra_op_threads"))
        if "test_delay_ns" in spec.settings:
            info["test_delay_ns"] = spec.settings["test_delay_ns"]
        row["runtime_settings"] = json.dumps(info, sort_keys=True, default=str)
        row["gpu_peak_mb"] = memory.gpu_peak_mb(info)
        row["peak_rss_mb"] = memory.peak_rss_mb()  # before parity's large batches
        row["flops"], row["gflops_per_s"] = _flops(spec, stats.get("mean_ms", math.nan))
        why = validity(stats, plan) if spec.timed else ""
        row["status"], row["error"] = ("invalid", f"invalid: {why}") if why else ("ok", "")
        if spec.parity_inputs:
            try:
                _parity_outputs(spec, session, p)
            except Exception as exc:  # the timing stands; parity reports the missing outputs
                if not spec.timed:
                    raise  # an untimed cell exists for its outputs: without them it failed
                write_json(p.outputs_errors, {"inputs": str(spec.parity_inputs), "errors": {"*": one_line(exc)}})
                with open(p.log, "a", encoding="utf-8") as log:
                    log.write(f"parity outputs failed:\n{traceback.format_exc()}\n")
    except BaseException as exc:  # every failure of a cell is data, including KeyboardInterrupt in a child
        row["status"], row["error"] = "failed", one_line(exc)
        with open(p.log, "a", encoding="utf-8") as log:
            log.write(f"cell {spec.cell_id} failed:\n{traceback.format_exc()}\n")
        if isinstance(exc, KeyboardInterrupt):
            write_json(p.row, row)
            raise
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass
    if math.isnan(row["peak_rss_mb"]):
        row["peak_rss_mb"] = memory.peak_rss_mb()
    write_json(p.row, row)
    return row


def load_specs(path: str | Path) -> list[CellSpec]:
    raw = json.loads(Path(path).read_text())
    items = raw if isinstance(raw, list) else [raw]
    return [CellSpec.from_dict(d) for d in items]


def _die_with_driver() -> None:
    """A worker whose driver is killed must not go on timing unseen (it would overlap a resumed
    run's cells): on Linux the kernel sends it SIGKILL when its parent dies. The local executor
    names its pid in TWINBENCH_DRIVER_PID; a parent already gone means exit now."""
    parent = os.environ.get("TWINBENCH_DRIVER_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:
        os._exit(3)


def cap_memory(specs: list[CellSpec]) -> None:
    """Bound this worker's heap at the executor's cap (RLIMIT_DATA: brk and private writable
    mappings), so a cell that asks for too much fails with a MemoryError in its row instead of
    pushing the machine into swap or the OOM killer. CPU cells only: GPU drivers map large
    private areas of their own; those cells are bounded by the driver's watch of their RSS."""
    try:
        cap_mb = int(os.environ.get(MEMORY_ENV, "0") or 0)
    except ValueError:
        return
    if cap_mb <= 0 or any(s.device != "cpu" for s in specs):
        return
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = cap_mb * 2**20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ImportError, OSError, ValueError):
        return


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m twinbench.bench.worker SPEC.json", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _die_with_driver()
    specs = load_specs(argv[0])
    cap_memory(specs)
    for spec in specs:
        run_cell(spec)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: some frameworks crash or hang in their atexit hooks, after the
    # row is safely on disk.
    os._exit(code)
