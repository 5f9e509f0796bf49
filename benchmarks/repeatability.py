"""Repeatability of headline figures across independent invocations, the path users drive:
one `twinbench run` trains and exports once, then N separate `twinbench bench RUN` invocations
re-measure the same artifacts. Prints, per cell, every invocation's headline p50, their median and
the largest deviation from it. Target: every cell within +-3% of its median.

Usage: python benchmarks/repeatability.py [--runs 10] [--repeats 5] [--runtime ort-cpu --runtime torch]
                                          [--batch 1 --batch 32] [--seq 16] [--source RUN_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import bench, headline, make_source  # noqa: E402

TARGET = 0.03


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runtime", action="append", default=None)
    ap.add_argument("--batch", type=int, action="append", default=None)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--source", type=Path, default=None, help="reuse this run directory's artifacts")
    args = ap.parse_args()
    runtimes, batches = args.runtime or ["ort-cpu", "torch"], args.batch or [1, 32]
    out = Path(tempfile.mkdtemp(prefix="twinbench-repeat-"))
    t0 = time.perf_counter()
    source = args.source or make_source(out / "source", runtimes, batches, args.seq, args.repeats)
    tables = []
    for i in range(args.runs):
        run = bench(source, out / f"m{i}", args.repeats)
        tables.append(headline(run))
        print(f"invocation {i + 1}/{args.runs}: {run.name}", file=sys.stderr)
    cells = sorted(set().union(*(t.index for t in tables)))
    worst = 0.0
    print(f"{'artifact':14} {'runtime':8} {'b':>3} {'s':>3} | " + " ".join(f"{'#' + str(i + 1):>8}" for i in range(len(tables)))
          + f" | {'median':>8} {'max dev':>8}")
    for cell in cells:
        vals = [float(t.loc[cell, "p50_ms"]) if cell in t.index else float("nan") for t in tables]
        ok = [v for v in vals if v == v]
        med = statistics.median(ok)
        dev = max(abs(v / med - 1) for v in ok)
        worst = max(worst, dev)
        print(f"{cell[0]:14} {cell[1]:8} {cell[2]:>3} {cell[3]:>3} | " + " ".join(f"{v * 1e3:8.2f}" for v in vals)
              + f" | {med * 1e3:8.2f} {dev:8.2%}   (us)")
    print(f"\nworst deviation from a cell's median over {len(tables)} invocations: {worst:.2%} "
          f"(target +-{TARGET:.0%}: {'met' if worst <= TARGET else 'NOT met'}); {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
