"""Per-sample overhead of the timing engine: the trivial ONNX Add model (bench/calibration.py)
timed through `measure_rounds()` (what every worker runs: rounds with the machine-state probe
between them) and the ort-cpu session's bound call, against a bare `for: sess.run()` loop timed as
a whole. Target: < 0.2 us per sample.

Usage: python benchmarks/harness_overhead.py [--iters N] [--rounds R]
Rounds alternate the two ways; both are summarised as the median of per-block means (200 calls a
block), so a preempted call or a noisy neighbour hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()

    from twinbench.bench.calibration import calibration_artifact
    from twinbench.bench.runtimes import get_runtime
    from twinbench.bench.runtimes.base import LoadOptions
    from twinbench.bench.timing import TimingPlan, measure_rounds

    run_dir = Path(tempfile.mkdtemp(prefix="twinbench-overhead-"))
    art = calibration_artifact(run_dir)
    session = get_runtime("ort-cpu").load(art, LoadOptions(threads=1, run_dir=str(run_dir)))
    x = np.full((1, 16), 2, dtype=np.int64)
    call = session.bind({"tokens": x})
    sess, feeds, names = session.sess, {session.input_name: x}, session.output_names
    plan = TimingPlan(warmup_iters=1000, warmup_s=0.1, min_iters=args.iters, min_s=0.0, max_s=60.0)

    block = 200  # calls per block: block means are robust to a preempted call, medians to a bad block
    bare_us, engine_us = [], []
    for _ in range(args.rounds):
        for _ in range(1000):
            sess.run(names, feeds)
        pc = time.perf_counter_ns
        for _ in range(args.iters // block):
            t0 = pc()
            for _ in range(block):
                sess.run(names, feeds)
            bare_us.append((pc() - t0) / block / 1e3)
        ns, _rounds = measure_rounds(call, None, plan)
        ns = ns[: len(ns) // block * block].reshape(-1, block)
        engine_us.extend((ns.mean(axis=1) / 1e3).tolist())

    bare, engine = statistics.median(bare_us), statistics.median(engine_us)
    n = args.rounds * (args.iters // block)
    print(f"bare sess.run loop:     {bare:8.3f} us per call   (median of {n} block means, {block} calls each)")
    print(f"measure_rounds() + bound call: {engine:8.3f} us per sample (median of {len(engine_us)} block means)")
    print(f"harness overhead:       {engine - bare:8.3f} us per sample (target < 0.2 us)")
    session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
