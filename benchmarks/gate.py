"""The one-command CI gate at its default settings, as CI runs it: every gate is a separate
`twinbench gate BASELINE CANDIDATE` invocation (its own processes, its own sequential looks).

One small `twinbench run` (lstm, TorchScript ONNX, the chosen runtimes and batches) makes the
artifacts. A slowed copy of it is made once with `twinbench bench --config`: a real busy-wait of 10%
of each cell's own headline p50 added to every timed call (`test_delay_ns`, one figure per batch
size). Then, alternating:

- A/A: `twinbench gate SOURCE SOURCE` (the same artifacts on both sides): must exit 0, with at least
  80% of the cell verdicts SAME;
- +10%: `twinbench gate SOURCE SLOW`: must exit 1 in at least 19 of 20 pairs, with at least 95% of
  the cell verdicts REGRESSION;
- +5% (with --plus5): never SAME or IMPROVEMENT.

Prints exit codes, verdict fractions per kind of pair and per cell, the slowdown the candidate
really had (cand / base p50 of the gate's own figures), and the median and worst wall time of a gate.

Usage: python benchmarks/gate.py [--pairs 20] [--runtime ort-cpu --runtime torch --runtime tf-function]
                                 [--batch 1 --batch 32] [--seq 16] [--source RUN_DIR] [--plus5]
                                 [-- extra gate options, e.g. --max-repeats 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import bench, headline, make_source, tb  # noqa: E402

KINDS = {"A/A": 0.0, "+10%": 0.10, "+5%": 0.05}


def slowed(source: Path, out: Path, frac: float, runtimes: list[str]) -> Path:
    """A run directory with the source's artifacts whose config adds a busy-wait of `frac` of each
    cell's headline p50 to every timed call (measured once, quickly: only its config matters)."""
    base = headline(source)
    lines = []
    for rt in runtimes:
        cells = base.xs(rt, level="runtime")
        table = ", ".join(f'"{int(b)}" = {int(float(p50) * 1e6 * frac)}'
                          for b, p50 in cells["p50_ms"].groupby(level="batch").first().items())
        lines.append(f"[runtime_settings.{rt}]\ntest_delay_ns = {{ {table} }}\n")
    cfg = out.with_suffix(".toml")
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("".join(lines))
    return bench(source, out, 1, cfg)


def gate(base: Path, cand: Path, out: Path, extra: list[str]) -> tuple[int, float, dict[str, Any]]:
    """(exit code, wall seconds, the gate's JSON summary) of one `twinbench gate` invocation."""
    t = time.perf_counter()
    proc = tb("gate", str(base), str(cand), "--out", str(out), "--json", "-q", *extra)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        sys.exit(f"gate failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.returncode, wall, json.loads(proc.stdout.strip().splitlines()[-1])


def _int(v: Any) -> str:
    return "-" if v is None else f"{int(v)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--runtime", action="append", default=None)
    ap.add_argument("--batch", type=int, action="append", default=None)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--source", type=Path, default=None, help="reuse this run directory's artifacts")
    ap.add_argument("--plus5", action="store_true", help="also +5%% pairs (never SAME or IMPROVEMENT)")
    ap.add_argument("extra", nargs="*", help="options passed to every `twinbench gate` (after --)")
    args = ap.parse_args()
    runtimes, batches = args.runtime or ["ort-cpu", "torch", "tf-function"], args.batch or [1, 32]
    out = Path(tempfile.mkdtemp(prefix="twinbench-gate-"))
    t0 = time.perf_counter()
    source = args.source or make_source(out / "source", runtimes, batches, args.seq, 3)
    kinds = [k for k in KINDS if k != "+5%" or args.plus5]
    cands = {"A/A": source, **{k: slowed(source, out / f"slow{int(KINDS[k] * 100)}", KINDS[k], runtimes)
                               for k in kinds if KINDS[k]}}
    exits: dict[str, Counter] = {k: Counter() for k in kinds}
    cells: dict[str, Counter] = {k: Counter() for k in kinds}
    per_cell: dict[str, dict[str, Counter]] = {k: {} for k in kinds}
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    ratios: dict[str, list[float]] = {k: [] for k in kinds}
    processes: dict[str, list[int]] = {k: [] for k in kinds}
    for i in range(args.pairs):
        order = kinds if i % 2 == 0 else kinds[::-1]
        for kind in order:
            code, wall, summary = gate(source, cands[kind], out / f"g{i}_{kind.strip('+%/')}", args.extra)
            exits[kind][code] += 1
            walls[kind].append(wall)
            processes[kind].append(int(summary.get("processes") or 0))
            for c in summary["cells"]:
                if c["kind"] != "speed" or c["twin"] == "_calibration" or c["runtime"] not in runtimes:
                    continue
                cells[kind][c["verdict"]] += 1
                per_cell[kind].setdefault(f"{c['runtime']} b{c['batch']}", Counter())[
                    f"{c['verdict']} @{_int(c.get('n_base'))}/{_int(c.get('n_cand'))}"] += 1
                if c.get("ratio") is not None:
                    ratios[kind].append(float(c["ratio"]))
            print(f"pair {i + 1}/{args.pairs} {kind}: exit {code}, {wall:.0f} s, "
                  f"{dict(Counter(c['verdict'] for c in summary['cells'] if c['kind'] == 'speed' and c['twin'] != '_calibration'))}",
                  file=sys.stderr, flush=True)
    print(f"{args.pairs} pairs of `twinbench gate` at its default settings; runtimes {', '.join(runtimes)}; batches "
          f"{', '.join(map(str, batches))}; seq {args.seq}; extra options {args.extra or 'none'}; source {source}; "
          f"{time.perf_counter() - t0:.0f} s in all\n")
    print("| pair | exit codes | cell verdicts | SAME | REGRESSION | achieved ratio (median, range) | "
          "gate wall s (median, worst) | processes a gate (median) |")
    print("| --- | --- | --- | ---: | ---: | --- | --- | ---: |")
    for kind in kinds:
        n = sum(cells[kind].values()) or 1
        r = sorted(ratios[kind])
        shown = f"{statistics.median(r):.3f} ({r[0]:.3f}..{r[-1]:.3f})" if r else "-"
        print(f"| {kind} | {dict(exits[kind])} | {dict(cells[kind])} | {cells[kind]['SAME'] / n:.0%} | "
              f"{cells[kind]['REGRESSION'] / n:.0%} | {shown} | {statistics.median(walls[kind]):.0f}, "
              f"{max(walls[kind]):.0f} | {statistics.median(processes[kind]):.0f} |")
    print("\nPer cell (verdict @ processes a side baseline/candidate: count):")
    for kind in kinds:
        for cell, counts in sorted(per_cell[kind].items()):
            print(f"  {kind:5} {cell:16} {dict(counts.most_common())}")
    aa = exits["A/A"]
    same = cells["A/A"]["SAME"] / (sum(cells["A/A"].values()) or 1)
    print(f"\nA/A: exit 0 in {aa[0]}/{args.pairs} (target all), SAME {same:.0%} of cells (target >= 80%)")
    if "+10%" in kinds:
        reg = cells["+10%"]["REGRESSION"] / (sum(cells["+10%"].values()) or 1)
        print(f"+10%: exit 1 in {exits['+10%'][1]}/{args.pairs} (target >= 95%), REGRESSION {reg:.0%} of cells "
              "(target >= 95%)")
    if "+5%" in kinds:
        print(f"+5%: SAME or IMPROVEMENT in {cells['+5%']['SAME'] + cells['+5%']['IMPROVEMENT']} cells (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
