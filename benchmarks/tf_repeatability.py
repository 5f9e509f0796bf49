"""Does TensorFlow's headline figure reproduce? tf-function's headline p50 at batch 1 and 32 over N
independent `twinbench bench` invocations of the same artifacts (separate processes, as a user runs
them), each against the median of the N. Target: every one within +-3% of its median.

With --unbound, every invocation is paired with one whose TF workers are not bound to their CPUs
(`bind_cpus = false`, TensorFlow's own behaviour; bench/runtimes/_tf.py says why twinbench binds
them), alternating, so the two columns saw the same machine: the evidence in docs/measurement.md.

Usage: python benchmarks/tf_repeatability.py [--runs 10] [--repeats 3] [--batch 1 --batch 32] [--seq 16]
                                             [--source RUN_DIR] [--unbound]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import bench, headline, make_source  # noqa: E402

TARGET = 0.03
RUNTIME = "tf-function"


def _config(out: Path, bound: bool) -> Path:
    path = out / ("bound.toml" if bound else "unbound.toml")
    path.write_text(f'runtimes = ["{RUNTIME}"]\n[runtime_settings.{RUNTIME}]\nbind_cpus = {"true" if bound else "false"}\n')
    return path


def _table(label: str, tables: list, batches: list[int]) -> float:
    """Print one row per batch (every invocation's headline p50 in us, median, worst deviation,
    invalid count); return the worst deviation."""
    worst = 0.0
    print(f"\n{label}")
    print(f"{'batch':>5} | " + " ".join(f"{'#' + str(i + 1):>8}" for i in range(len(tables)))
          + f" | {'median':>8} {'max dev':>8} {'invalid':>7}")
    for b in batches:
        vals, invalid = [], 0
        for t in tables:
            rows = t[(t.index.get_level_values("runtime") == RUNTIME) & (t.index.get_level_values("batch") == b)]
            vals.append(float(rows["p50_ms"].iloc[0]) if len(rows) else math.nan)
            invalid += int(len(rows) and rows["status"].iloc[0] == "invalid")
        ok = [v for v in vals if v == v]
        med = statistics.median(ok) if ok else math.nan
        dev = max(abs(v / med - 1) for v in ok) if ok else math.nan
        worst = max(worst, dev) if dev == dev else worst
        print(f"{b:>5} | " + " ".join(f"{v * 1e3:8.1f}" for v in vals) + f" | {med * 1e3:8.1f} {dev:8.2%} {invalid:>7}")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="processes per cell (3: what `twinbench run` uses)")
    ap.add_argument("--batch", type=int, action="append", default=None)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--source", type=Path, default=None, help="reuse this run directory's artifacts")
    ap.add_argument("--unbound", action="store_true", help="also measure with bind_cpus = false, alternating")
    args = ap.parse_args()
    batches = args.batch or [1, 32]
    out = Path(tempfile.mkdtemp(prefix="twinbench-tfrepeat-"))
    t0 = time.perf_counter()
    source = args.source or make_source(out / "source", [RUNTIME], batches, args.seq, args.repeats)
    configs = {True: _config(out, True), False: _config(out, False)}
    tables: dict[bool, list] = {True: [], False: []}
    for i in range(args.runs):
        for bound in ((True, False) if args.unbound else (True,)):
            if i % 2 and args.unbound:  # alternate which goes first
                bound = not bound
            run = bench(source, out / f"{'b' if bound else 'u'}{i}", args.repeats, configs[bound])
            tables[bound].append(headline(run))
            print(f"invocation {i + 1}/{args.runs} ({'bound' if bound else 'unbound'}): {run.name}", file=sys.stderr)
    print(f"{RUNTIME} headline p50 (us) over {args.runs} independent `twinbench bench` invocations, "
          f"{args.repeats} processes per cell, seq {args.seq}; source {source}")
    worst = _table("bound to `threads` CPUs (the default)", tables[True], batches)
    if args.unbound:
        loose = _table("unbound (bind_cpus = false: TensorFlow's own thread placement)", tables[False], batches)
        print(f"\nworst deviation unbound: {loose:.2%}")
    print(f"\nworst deviation from the median over {args.runs} invocations: {worst:.2%} "
          f"(target +-{TARGET:.0%}: {'met' if worst <= TARGET else 'NOT met'}); {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
