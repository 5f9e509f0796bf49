"""Driver cost against the size of the matrix: a synthetic run directory of N cells x P processes
(results, repeats and rounds tables, per-process samples, a complete manifest), then `twinbench
report`, `twinbench compare` and the history recording timed as separate invocations, as CI runs
them. Prints seconds, and seconds per 1,000 cells, at N and 2N: linear work doubles, no more.

    python benchmarks/driver_scaling.py                 # 5,000 and 10,000 cells, 3 processes each
    python benchmarks/driver_scaling.py --cells 500     # a quick look

The figures are the driver's own work (reading tables, forming verdicts, writing reports); nothing
is measured on a runtime, so the machine's noise barely matters at these durations."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from twinbench.config import load_config
from twinbench.core.layout import RunDir
from twinbench.core.manifest import create_run_dir, update_manifest
from twinbench.core.schema import REPEATS_COLUMNS, RESULTS_COLUMNS, ROUNDS_COLUMNS
from twinbench.core.tables import write_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import options_and_workdir  # noqa: E402

ROUNDS_PER_PROCESS = 6
SAMPLES_PER_ROUND = 40


def _keys(n: int) -> list[dict]:
    """n distinct cell keys over twins x artifacts x runtimes x shapes."""
    twins = [f"t{i:02d}" for i in range(40)]
    arts = [("torch-dynamo", "torch", "onnx"), ("torch-script", "torch", "onnx"), ("tf2onnx", "keras", "onnx"),
            ("torch-dynamo-fp16", "torch", "onnx"), ("torch-dynamo-int8", "torch", "onnx")]
    runtimes = ["ort-cpu", "openvino"]
    shapes = itertools.product([1, 8, 32, 64, 128], [16, 32, 64, 128, 256], [1, 2])
    combos = itertools.product(twins, arts, runtimes, list(shapes))
    out = []
    for twin, (art, source, _), runtime, (batch, seq, threads) in itertools.islice(combos, n):
        out.append({"twin": twin, "artifact": art, "exporter": art.split("-fp16")[0].split("-int8")[0],
                    "source": source, "precision": "fp16" if "fp16" in art else "int8" if "int8" in art else "fp32",
                    "runtime": runtime, "device": "cpu", "batch": batch, "seq_len": seq, "threads": threads})
    if len(out) < n:
        sys.exit(f"at most {len(out)} synthetic cells")
    return out


def make_run(out: Path, n: int, processes: int, seed: int, slower: float = 1.0) -> Path:
    """A complete run directory of `n` cells measured in `processes` processes each."""
    rng = np.random.default_rng(seed)
    run_dir, manifest = create_run_dir(out, load_config(None, {"runtimes": ("ort-cpu", "openvino")}).to_dict())
    layout = RunDir(run_dir)
    layout.cells.mkdir(parents=True, exist_ok=True)
    results, repeats, rounds = [], [], []
    for i, key in enumerate(_keys(n)):
        base = 0.02 * key["batch"] * key["seq_len"] / 16 * (1 + 0.1 * (i % 7)) * slower
        figures = []
        for r in range(processes):
            level = base * math.exp(rng.normal(0, 0.01))
            ns = (rng.normal(level, level * 0.02, ROUNDS_PER_PROCESS * SAMPLES_PER_ROUND) * 1e6).astype(np.int64)
            cell_id = f"c{i}" + (f".r{r}" if r else "")
            np.save(layout.cell(cell_id).samples, ns)
            figures.append(level)
            row = {**key, "status": "ok", "error": "", "iterations": ns.size, "p50_ms": level, "mean_ms": level,
                   "samples_file": f"cells/{cell_id}.npy", "repeats": 1}
            repeats.append({**row, "repeat": r, "fast_p50_ms": level, "rounds": ROUNDS_PER_PROCESS})
            for k in range(ROUNDS_PER_PROCESS):
                rounds.append({**key, "repeat": r, "round": k, "probe_py_us": 50.0 + rng.normal(0, 0.2),
                               "probe_np_us": 6.0, "count": SAMPLES_PER_ROUND, "p50_ms": level, "fast": True})
        p50 = float(np.median(figures))
        results.append({**key, "status": "ok", "error": "", "iterations": processes * ROUNDS_PER_PROCESS
                        * SAMPLES_PER_ROUND, "p50_ms": p50, "mean_ms": p50, "min_ms": p50 * 0.95,
                        "p90_ms": p50 * 1.05, "p99_ms": p50 * 1.1, "max_ms": p50 * 1.2, "cv": 0.02,
                        "throughput_sps": key["batch"] / (p50 / 1e3), "samples_file": f"cells/c{i}.npy",
                        "repeats": processes, "between_spread": 0.01, "mde": 0.03, "state_fast": 1.0,
                        "headline": f"median of {processes} process medians, fast state"})
    for name, rows, cols in (("results", results, RESULTS_COLUMNS), ("repeats", repeats, REPEATS_COLUMNS),
                             ("rounds", rounds, ROUNDS_COLUMNS)):
        df = pd.DataFrame(rows).reindex(columns=cols)
        df["run_id"] = manifest["run_id"]
        write_table(df, run_dir, name)
    for name in ("parity", "training", "params"):
        write_table(pd.DataFrame(), run_dir, name)
    update_manifest(run_dir, manifest, status="complete", parity_verdict="SKIP", timings={})
    return run_dir


def timed(*args: str, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, timeout=3600)
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"twinbench {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    return took


def record_seconds(run_dir: Path, store: Path) -> float:
    """The history recording of a finished run, in its own process (what `finish_run` does)."""
    code = ("import sys; from twinbench.reports.history import record; "
            "record(sys.argv[1], sys.argv[2])")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(run_dir), str(store)], check=True, timeout=3600,
                   capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    args, work = options_and_workdir(__doc__, "tb-scaling-", cells=5000, processes=3)
    rows = []
    try:
        for n in (args.cells, 2 * args.cells):
            base = make_run(work / f"n{n}", n, args.processes, seed=1)
            cand = make_run(work / f"n{n}", n, args.processes, seed=2, slower=1.1)
            report = timed("report", str(cand))
            compare = timed("compare", str(base), str(cand))
            store = work / f"history-{n}.sqlite"
            history = record_seconds(cand, store)
            with sqlite3.connect(store) as db:
                recorded = db.execute("select count(*) from cells").fetchone()[0]
            rows.append((n, report, compare, history, recorded))
            shutil.rmtree(work / f"n{n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'cells':>7} {'processes':>9} | {'report s':>9} {'compare s':>9} {'history s':>9} | "
          f"{'report s/1k':>11} {'compare s/1k':>12} {'history s/1k':>12} | recorded")
    for n, rep, cmp_, hist, recorded in rows:
        k = n / 1000
        print(f"{n:>7} {args.processes:>9} | {rep:>9.1f} {cmp_:>9.1f} {hist:>9.1f} | {rep / k:>11.2f} "
              f"{cmp_ / k:>12.2f} {hist / k:>12.2f} | {recorded}")
    (n1, r1, c1, h1, _), (n2, r2, c2, h2, _) = rows
    print(f"doubling the cells multiplies report by {r2 / r1:.2f}, compare by {c2 / c1:.2f}, "
          f"history recording by {h2 / h1:.2f}")
    print(json.dumps({"cells": [n1, n2], "report_s": [r1, r2], "compare_s": [c1, c2], "history_s": [h1, h2]}))


if __name__ == "__main__":
    main()
