"""A/A and A/B through the real path: separate `twinbench bench` invocations of the same artifacts,
judged by separate `twinbench compare` invocations, exactly as a CI regression gate runs them.

For each of N independent tries: A and A' (two re-measurements) -> `compare A A'` must exit 0 and
claim neither REGRESSION nor IMPROVEMENT; B10 and B5 are re-measurements with a real busy-wait added
to every timed call of the chosen runtimes (`test_delay_ns`, 10% and 5% of A's own headline p50
for that cell) -> `compare A B10` must say REGRESSION (exit 1), `compare A B5` REGRESSION or
INCONCLUSIVE, never IMPROVEMENT or SAME. The achieved slowdown is checked against A's median.

Usage: python benchmarks/ab_regression.py [--tries 20] [--repeats 5] [--runtime ort-cpu --runtime torch]
                                          [--batch 1] [--seq 16] [--source RUN_DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import bench, headline, make_source, tb  # noqa: E402


def verdicts(base: Path, cand: Path) -> tuple[int, dict[tuple, str]]:
    proc = tb("compare", str(base), str(cand))
    if proc.returncode not in (0, 1):
        sys.exit(f"compare failed (exit {proc.returncode}): {proc.stderr[-1000:]}")
    out = {}
    for line in proc.stdout.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) >= 8 and cols[0] in ("REGRESSION", "IMPROVEMENT", "SAME", "INCONCLUSIVE") and cols[1] != "_calibration":
            out[(cols[2], cols[3], int(cols[5]))] = cols[0]
    return proc.returncode, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runtime", action="append", default=None)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--source", type=Path, default=None)
    args = ap.parse_args()
    runtimes = args.runtime or ["ort-cpu", "torch"]
    out = Path(tempfile.mkdtemp(prefix="twinbench-ab-"))
    t0 = time.perf_counter()
    source = args.source or make_source(out / "source", runtimes, [args.batch], args.seq, args.repeats)
    tally: dict[str, Counter] = {"A/A": Counter(), "A/B +10%": Counter(), "A/B +5%": Counter()}
    exits: dict[str, Counter] = {k: Counter() for k in tally}
    achieved: dict[str, list[float]] = {"A/B +10%": [], "A/B +5%": []}
    for i in range(args.tries):
        a = bench(source, out / f"a{i}", args.repeats)
        base = headline(a)
        cands = {"A/A": bench(source, out / f"a2_{i}", args.repeats)}
        for name, frac in (("A/B +10%", 0.10), ("A/B +5%", 0.05)):
            cfg = out / f"delay{i}_{int(frac * 100)}.toml"
            lines = []
            for rt in runtimes:
                p50 = float(base.xs(rt, level="runtime")["p50_ms"].iloc[0])
                lines.append(f'[runtime_settings.{rt}]\ntest_delay_ns = {int(p50 * 1e6 * frac)}\n')
            cfg.write_text("".join(lines))
            cands[name] = bench(source, out / f"b{int(frac * 100)}_{i}", args.repeats, cfg)
        for name, cand in cands.items():
            code, v = verdicts(a, cand)
            exits[name][code] += 1
            tally[name].update(v.values())
            if name in achieved:
                ratio = headline(cand)["p50_ms"] / base["p50_ms"]
                achieved[name] += [float(x) for x in ratio.dropna()]
        print(f"try {i + 1}/{args.tries}: " + "; ".join(f"{k} exit {code}" for k, code in
                                                       ((k, max(exits[k], key=exits[k].get)) for k in exits)),
              file=sys.stderr)
    print(f"{args.tries} tries, runtimes {', '.join(runtimes)}, batch {args.batch}, seq {args.seq}, "
          f"{args.repeats} processes per cell, {time.perf_counter() - t0:.0f} s")
    for name in tally:
        cells = sum(tally[name].values())
        print(f"{name:9} compare exit codes {dict(exits[name])}; cell verdicts ({cells}): {dict(tally[name])}")
    for name, vals in achieved.items():
        if vals:
            vals.sort()
            print(f"{name:9} achieved slowdown vs A's headline: median {vals[len(vals) // 2] - 1:+.1%}, "
                  f"range {vals[0] - 1:+.1%}..{vals[-1] - 1:+.1%}")
    aa_ok = exits["A/A"].get(1, 0) == 0 and not (tally["A/A"]["REGRESSION"] or tally["A/A"]["IMPROVEMENT"])
    b10 = exits["A/B +10%"].get(1, 0)
    b5_bad = tally["A/B +5%"]["IMPROVEMENT"] + tally["A/B +5%"]["SAME"]
    print(f"\nA/A: {exits['A/A'].get(0, 0)}/{args.tries} exit 0, never REGRESSION/IMPROVEMENT: {'yes' if aa_ok else 'NO'}")
    print(f"A/B +10%: REGRESSION (exit 1) in {b10}/{args.tries} pairs (target >= 95%)")
    print(f"A/B +5%: IMPROVEMENT or SAME in {b5_bad} cell verdicts (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
