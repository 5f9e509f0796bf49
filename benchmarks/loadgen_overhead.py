"""LoadGen's own overhead: a trivial model's max QPS through the SUT adapter against a bare loop.

The model is the calibration cell's one-node ONNX Add on ort-cpu (a call is a few microseconds), so
what limits its QPS is the harness: LoadGen's issue thread, the Python callbacks, the queue and the
lane thread. The bare loop calls the same session (bind + run + fetch, as a lane does) back to back
in one thread. Both the Server max QPS (p99 under the bound, one stream) and the Offline samples/s
at batch 1 are printed with the bare-loop rate and the ratio.

Usage: python benchmarks/loadgen_overhead.py [--seconds 3] [--bound-ms 10]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import options_and_workdir  # noqa: E402


def bare_loop(run_dir: Path, art, seconds: float) -> tuple[float, float]:
    """(calls/s, median us per call) of bind + run + fetch on one ort-cpu session, one thread."""
    from twinbench.bench.runtimes import get_runtime
    from twinbench.bench.runtimes.base import LoadOptions

    session = get_runtime("ort-cpu").load(art, LoadOptions(threads=1, run_dir=str(run_dir)))
    x = np.full((1, 16), 2, dtype=np.int64)
    for _ in range(200):
        session.fetch(session.bind({"tokens": x})())
    times = []
    end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < end:
        t = time.perf_counter_ns()
        session.fetch(session.bind({"tokens": x})())
        times.append(time.perf_counter_ns() - t)
    rate = len(times) / (time.perf_counter() - t0)
    session.close()
    return rate, float(np.median(times)) / 1e3


def main() -> None:
    from twinbench.bench.calibration import calibration_artifact
    from twinbench.bench.cells import plan_cells
    from twinbench.bench.executors import get_executor
    from twinbench.bench.runner import run_cells

    args, run_dir = options_and_workdir(__doc__, "loadgen-overhead-", seconds=3.0, bound_ms=10.0)
    art = calibration_artifact(run_dir)
    rate, us = bare_loop(run_dir, art, args.seconds)
    print(f"bare loop (ort-cpu Add, bind+run+fetch, 1 thread): {rate:,.0f} calls/s, median {us:.1f} us/call")
    load = {"streams": [1], "server_streams": 1, "max_batch": [1], "latency_bound_ms": args.bound_ms,
            "duration_s": 2.0, "search_runs": 10, "search_s": 60.0, "tolerance": 0.05}
    specs, _ = plan_cells(run_dir, [art], ["ort-cpu"], ["cpu"], [1], [16], [1], scenarios=["server", "offline"],
                          load=load, parity=False)
    run_cells(specs, get_executor("local", timeout_s=300))
    for spec in specs:
        rows = json.loads((run_dir / "cells" / f"{spec.cell_id}.load.json").read_text())
        best = [r for r in rows if r["headline"]]
        if not best:
            print(f"{spec.scenario}: no VALID run ({rows[-1]['error'] or rows[-1]['loadgen_reason']})")
            continue
        b = best[0]
        figure = b["target_qps"] if spec.scenario == "server" else b["achieved_qps"]
        extra = (f"p99 {b['p99_ms']:.2f} ms <= {args.bound_ms:g} ms, {len(rows)} LoadGen runs, {b['search_stop']}"
                 if spec.scenario == "server" else f"{b['samples']} samples in one query")
        print(f"{spec.scenario} through the adapter (1 stream, batch 1): {figure:,.0f} "
              f"{'QPS' if spec.scenario == 'server' else 'samples/s'} ({extra}); "
              f"{figure / rate:.1%} of the bare loop, {1e6 / figure - us:.1f} us per query more")
    print(f"run directory: {run_dir}")


if __name__ == "__main__":
    main()
