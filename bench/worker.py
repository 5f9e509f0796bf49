"""Run cells: `python -m twinbench.bench.worker SPEC.json` runs one cell (or a JSON list of them)
in this fresh process; `run_cells` launches one such process per cell, one at a time.

A worker writes cells/<cell_id>.json (one results row), .npy (int64 ns per timed iteration),
.outputs.npz (float64 outputs on the parity inputs) and .log (tracebacks). Whatever happens to a
cell (exception, crash, hang) becomes a `failed` row; a run never stops for one cell."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from twinbench.bench.cells import FIRST_WORD, CellSpec
from twinbench.bench.schema import RESULTS_COLUMNS
from twinbench.errors import one_line

Progress = Callable[[int, int, str], None]


def make_inputs(spec: CellSpec) -> np.ndarray:
    """Deterministic word ids in [2, vocab_size) (no PAD/UNK), int64 [batch, seq_len]."""
    rng = np.random.default_rng(spec.input_seed)
    return rng.integers(FIRST_WORD, spec.vocab_size, size=(spec.batch, spec.seq_len), dtype=np.int64)


def paths(spec: CellSpec) -> dict[str, Path]:
    cells = Path(spec.run_dir) / "cells"
    base = cells / spec.cell_id
    return {"dir": cells, "json": Path(f"{base}.json"), "npy": Path(f"{base}.npy"), "log": Path(f"{base}.log"),
            "outputs": Path(f"{base}.outputs.npz"), "outputs_json": Path(f"{base}.outputs.json"),
            "spec": Path(f"{base}.spec.json")}


def empty_row(spec: CellSpec) -> dict[str, Any]:
    row: dict[str, Any] = {col: None for col in RESULTS_COLUMNS}
    row.update(spec.key_row())
    for col in ("cold_load_ms", "cold_first_run_ms", "peak_rss_mb", "gpu_peak_mb", "flops", "gflops_per_s"):
        row[col] = math.nan
    row["error"] = ""
    return row


def failed_row(spec: CellSpec, error: str) -> dict[str, Any]:
    row = empty_row(spec)
    row.update(status="failed", error=error)
    return row


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True, default=str, allow_nan=True))
    tmp.replace(path)


def _import_modules(spec: CellSpec) -> None:
    from twinbench.models.registry import load_twin_module

    for mod in (*spec.extra_modules, *spec.twin_modules):
        load_twin_module(mod)  # a dotted name or a .py path, imported once


def _flops(spec: CellSpec, mean_ms: float) -> tuple[float, float]:
    """FLOPs per call from exporters/inspect.py when it exists, else NaN."""
    art = spec.art
    path = art.abspath(spec.run_dir)
    if art.kind != "onnx":
        # Same twin, same weights: a sibling fp32 ONNX export counts the same arithmetic.
        siblings = sorted(p for p in path.parent.glob("*.onnx") if not p.stem.endswith(("-fp16", "-int8")))
        if not siblings:
            return math.nan, math.nan
        path = siblings[0]
    try:
        from twinbench.exporters.inspect import flops_estimate
    except ImportError:
        return math.nan, math.nan
    try:
        flops = float(flops_estimate(path, spec.batch, spec.seq_len))
    except Exception:  # an estimate is optional; never fail a cell for it
        return math.nan, math.nan
    rate = flops / (mean_ms / 1e3) / 1e9 if mean_ms and mean_ms > 0 else math.nan
    return flops, rate


def _parity_outputs(spec: CellSpec, session: Any, p: dict[str, Path]) -> None:
    """Run every named parity batch once; save float64 outputs, and per-batch errors beside them."""
    from twinbench.models.registry import INPUT_NAME

    src = Path(spec.run_dir) / spec.parity_inputs
    outputs: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    with np.load(src, allow_pickle=False) as z:
        batches = {k: z[k] for k in z.files}
    for name, x in batches.items():
        try:
            call = session.bind({INPUT_NAME: np.asarray(x, dtype=np.int64)})
            result = call()
            session.sync()
            outputs[name] = np.asarray(session.fetch(result)[0], dtype=np.float64)
        except Exception as exc:  # one batch shape a runtime cannot take is a parity finding
            errors[name] = one_line(exc)
    tmp = p["outputs"].with_name(p["outputs"].name + ".tmp.npz")
    np.savez(tmp, **outputs)
    tmp.replace(p["outputs"])
    _write_json(p["outputs_json"], {"inputs": str(spec.parity_inputs), "errors": errors})


def run_cell(spec: CellSpec) -> dict[str, Any]:
    """Run one cell in this process and write its files; returns the row (never raises)."""
    from twinbench.bench import memory
    from twinbench.bench.stats import summarize, validity
    from twinbench.bench.timing import measure, warm_up

    p = paths(spec)
    p["dir"].mkdir(parents=True, exist_ok=True)
    row = empty_row(spec)
    session = None
    try:
        _import_modules(spec)
        from twinbench.bench.runtimes import get_runtime
        from twinbench.bench.runtimes.base import LoadOptions
        from twinbench.models.registry import INPUT_NAME

        plan = spec.timing_plan()
        runtime = get_runtime(spec.runtime)
        x = make_inputs(spec)
        opts = LoadOptions(device=spec.device, threads=spec.threads, run_dir=spec.run_dir, settings=spec.settings)
        t0 = time.perf_counter_ns()
        session = runtime.load(spec.art, opts)
        t1 = time.perf_counter_ns()
        call = session.bind({INPUT_NAME: x})
        sync = None if spec.device == "cpu" else session.sync
        t2 = time.perf_counter_ns()
        call()
        session.sync()
        t3 = time.perf_counter_ns()
        row["cold_load_ms"] = (t1 - t0) / 1e6
        row["cold_first_run_ms"] = (t3 - t2) / 1e6
        row["warmup_iters"] = warm_up(call, sync, plan)
        ns = measure(call, sync, plan, warmup=False)
        np.save(p["npy"], ns)
        stats = summarize(ns, spec.batch)
        row.update(stats)
        row["samples_file"] = f"cells/{spec.cell_id}.npy"
        info = dict(session.info())
        row["io_in_timing"] = bool(info.pop("io_in_timing", False))
        row["threads_actual"] = info.get("threads", info.get("intra_op_threads"))
        row["runtime_settings"] = json.dumps(info, sort_keys=True, default=str)
        row["gpu_peak_mb"] = memory.gpu_peak_mb(info)
        row["peak_rss_mb"] = memory.peak_rss_mb()  # before parity's large batches
        row["flops"], row["gflops_per_s"] = _flops(spec, stats["mean_ms"])
        why = validity(stats, plan)
        row["status"], row["error"] = ("invalid", f"invalid: {why}") if why else ("ok", "")
        if spec.parity_inputs:
            try:
                _parity_outputs(spec, session, p)
            except Exception as exc:  # the timing stands; parity reports the missing outputs
                _write_json(p["outputs_json"], {"inputs": str(spec.parity_inputs), "errors": {"*": one_line(exc)}})
                with open(p["log"], "a", encoding="utf-8") as log:
                    log.write(f"parity outputs failed:\n{traceback.format_exc()}\n")
    except BaseException as exc:  # every failure of a cell is data, including KeyboardInterrupt in a child
        row["status"], row["error"] = "failed", one_line(exc)
        with open(p["log"], "a", encoding="utf-8") as log:
            log.write(f"cell {spec.cell_id} failed:\n{traceback.format_exc()}\n")
        if isinstance(exc, KeyboardInterrupt):
            _write_json(p["json"], row)
            raise
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass
    if math.isnan(row["peak_rss_mb"]):
        row["peak_rss_mb"] = memory.peak_rss_mb()
    _write_json(p["json"], row)
    return row


def read_row(path: Path) -> dict[str, Any] | None:
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def _describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"worker crashed ({name})"
    return f"worker exited with code {rc}"


def _last_log_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _run_isolated(spec: CellSpec, timeout_s: float) -> dict[str, Any]:
    p = paths(spec)
    p["dir"].mkdir(parents=True, exist_ok=True)
    for key in ("json", "npy", "outputs", "outputs_json"):
        p[key].unlink(missing_ok=True)
    p["spec"].write_text(spec.to_json())
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    error = ""
    with open(p["log"], "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "twinbench.bench.worker", str(p["spec"])],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group only
            except ProcessLookupError:
                pass
            proc.wait()
            rc, error = None, f"timed out after {timeout_s:g} s (worker killed)"
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    row = read_row(p["json"])
    if row is not None:
        full = empty_row(spec)
        full.update({k: v for k, v in row.items() if k in full})
        return full
    if not error:
        error = _describe_exit(rc) if rc else "worker wrote no results row"
        tail = _last_log_line(p["log"])
        if tail:
            error += f": {tail}"
    return failed_row(spec, error)


def run_cells(specs: Iterable[CellSpec], *, timeout_s: float = 300, isolate: bool = True,
              progress: Progress | None = None) -> Any:
    """Run every cell, one at a time (never two measured at once), each in a fresh process unless
    `isolate` is False. Returns a DataFrame with schema.RESULTS_COLUMNS; never raises for one cell."""
    import pandas as pd

    specs = list(specs)
    rows = []
    for i, spec in enumerate(specs):
        if isolate:
            row = _run_isolated(spec, timeout_s)
        else:
            try:
                row = run_cell(spec)
            except Exception as exc:  # run_cell catches everything; this is only a last guard
                row = failed_row(spec, one_line(exc))
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(specs), spec.cell_id)
    return pd.DataFrame(rows, columns=RESULTS_COLUMNS)


def load_specs(path: str | Path) -> list[CellSpec]:
    raw = json.loads(Path(path).read_text())
    items = raw if isinstance(raw, list) else [raw]
    return [CellSpec.from_dict(d) for d in items]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m twinbench.bench.worker SPEC.json", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for spec in load_specs(argv[0]):
        run_cell(spec)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: some frameworks crash or hang in their atexit hooks, after the
    # row is safely on disk.
    os._exit(code)
