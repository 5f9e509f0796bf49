"""Calibration of the speed verdicts by simulation: how often `compare` cries wolf, and how often it
catches a real change, at the process counts and spreads the suite meets.

Process figures are drawn lognormal (log-SD = the between-process spread, as docs/measurement.md
argues they are), n per side, and judged by the real `reports/verdicts.speed_test`:

- A/A (no change): the false-positive rate (REGRESSION or IMPROVEMENT; target: at most alpha,
  within simulation error), the rate of REGRESSION alone (what fails a CI gate) and of SAME;
- A/B +5 / +10 / +20%: the fraction REGRESSION (the power curve);
- the same A/A draws with min_effect 0, where a verdict is the bare t test: its false-positive
  rate should sit at (just under) alpha, which checks the t quantiles and Welch's df themselves.

The sequential rule (bench/sequential.py, reports/verdicts.py `sequential_test` and `stop_reason`,
what `twinbench gate` and `compare --remeasure` do) is simulated the same way: figures are drawn
for the planned maximum, and the rule looks at the first 3, 5, 8, 12 of them, stopping when a look
decides. Its tables show that the A/A false-positive rate stays at most alpha (also with min
effect 0, where every look is a bare t test, the strict check of the boundaries), how much more
often it says SAME and catches +10% than one look at 3 processes, and what it costs in processes;
and the same against other spending rules and against looking again at alpha each time.

A further table checks the between-process spread estimator (bench/stats.py `between_spread`)
for bias at n = 3, 4, 5, 8 against the 1.4826 x MAD / median it replaced, and how often each marks
a cell invalid (`max_between`, 10%) at a given true spread.

Usage: python benchmarks/calibration.py [--draws 2000] [--alpha 0.01] [--min-effect 0.05] [--seed 0]
No timing is measured: the figures do not depend on the machine or its load.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from typing import Sequence

import numpy as np

from twinbench.bench.sequential import SPENDING, SequentialDesign
from twinbench.bench.stats import between_spread
from twinbench.bench.timing import TimingPlan
from twinbench.reports.verdicts import sequential_test, speed_test, stop_reason

NS = (3, 4, 5, 8)
SPREADS = (0.005, 0.01, 0.02, 0.05, 0.10)
EFFECTS = (0.05, 0.10, 0.20)
#: A typical process figure (ms); the verdicts are scale-free, the value only makes them look real.
FIGURE_MS = 10.0


def draw(rng: np.random.Generator, n: int, spread: float, effect: float = 0.0) -> list[float]:
    """n lognormal process figures with log-SD `spread`, their median moved by `effect`."""
    return list(FIGURE_MS * (1 + effect) * np.exp(rng.normal(0.0, spread, n)))


def verdicts(rng: np.random.Generator, n: int, spread: float, effect: float, draws: int, *,
             min_effect: float, alpha: float, cand_spread: float | None = None) -> Counter:
    """Verdict counts of `draws` simulated baseline / candidate pairs (the candidate's spread is
    the baseline's unless given)."""
    out: Counter = Counter()
    cand_spread = spread if cand_spread is None else cand_spread
    for _ in range(draws):
        base, cand = draw(rng, n, spread), draw(rng, n, cand_spread, effect)
        out[speed_test(base, cand, min_effect=min_effect, alpha=alpha).verdict] += 1
    return out


def false_positive_rate(counts: Counter) -> float:
    total = sum(counts.values())
    return (counts["REGRESSION"] + counts["IMPROVEMENT"]) / total if total else math.nan


def upper_bound(alpha: float, draws: int) -> float:
    """The largest false-positive rate consistent with a true rate of alpha: alpha + 3 standard
    errors of a binomial proportion over `draws` (a one-sided 99.9% allowance for simulation error)."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / draws)


def sequential_run(rng: np.random.Generator, design: SequentialDesign, spread: float, effect: float, *,
                   min_effect: float, naive: bool = False) -> tuple[str, int, int]:
    """(verdict, looks, processes a side) of one simulated sequential comparison: figures drawn for
    the planned maximum, looked at as `twinbench gate` looks at them. `naive`: every look tested
    at alpha itself (what not to do: the rate of false alarms grows with the looks)."""
    base = draw(rng, design.max_n, spread)
    cand = draw(rng, design.max_n, spread, effect)
    for look, n in enumerate(design.looks, start=1):
        if naive:
            t = speed_test(base[:n], cand[:n], min_effect=min_effect, alpha=design.alpha, advise=False)
        else:
            t = sequential_test(base[:n], cand[:n], min_effect=min_effect, design=design, look=look, advise=False)
        if stop_reason(t.verdict, t.ci_low, t.ci_high, look=look, design=design, min_effect=min_effect):
            break
    return t.verdict, look, n


def sequential_verdicts(rng: np.random.Generator, design: SequentialDesign, spread: float, effect: float,
                        draws: int, *, min_effect: float, naive: bool = False) -> tuple[Counter, float]:
    """Verdict counts of `draws` simulated sequential comparisons, and their mean processes a side."""
    out: Counter = Counter()
    used = 0
    for _ in range(draws):
        verdict, _look, n = sequential_run(rng, design, spread, effect, min_effect=min_effect, naive=naive)
        out[verdict] += 1
        used += n
    return out, used / draws


def sequential_tables(draws: int, alpha: float, min_effect: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed + 2)
    design = SequentialDesign(alpha=alpha)
    looks = "/".join(str(n) for n in design.looks)
    lines = [f"## The sequential rule ({design.spending} spending, looks at {looks} processes a side, nominal "
             f"levels {', '.join(f'{x:.2g}' for x in design.levels)}; {draws} comparisons a row)", "",
             "| spread | A/A FP | FP, min effect 0 | A/A SAME | A/A SAME at 3 | "
             + " | ".join(f"REGRESSION at +{e:.0%}" for e in EFFECTS)
             + " | +10% at 3 | SAME at +5% | processes a side, A/A | at +10% |",
             "| ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in EFFECTS) + " | ---: | ---: | ---: | ---: |"]
    worst = 0.0
    for s in SPREADS:
        aa, n_aa = sequential_verdicts(rng, design, s, 0.0, draws, min_effect=min_effect)
        bare, _ = sequential_verdicts(rng, design, s, 0.0, draws, min_effect=0.0)
        power = {e: sequential_verdicts(rng, design, s, e, draws, min_effect=min_effect) for e in EFFECTS}
        once = verdicts(rng, design.start, s, 0.0, draws, min_effect=min_effect, alpha=alpha)
        once10 = verdicts(rng, design.start, s, 0.10, draws, min_effect=min_effect, alpha=alpha)
        fp, fp0 = false_positive_rate(aa), false_positive_rate(bare)
        worst = max(worst, fp, fp0)
        lines.append(f"| {s:.1%} | {_pct(fp)} | {_pct(fp0)} | {_pct(aa['SAME'] / draws)} | {_pct(once['SAME'] / draws)} | "
                     + " | ".join(_pct(power[e][0]["REGRESSION"] / draws) for e in EFFECTS)
                     + f" | {_pct(once10['REGRESSION'] / draws)} | {_pct(power[0.05][0]['SAME'] / draws)} | "
                     f"{n_aa:.1f} | {power[0.10][1]:.1f} |")
    verdict = "within" if worst <= upper_bound(alpha, draws) else "ABOVE"
    lines += ["", f"Worst false-positive rate of the sequential rule: {worst:.2%} ({verdict} alpha {alpha} + "
              "simulation error).", "",
              f"## Spending rules compared (looks at {looks}; {draws} comparisons a cell; FP with min effect 0, "
              f"the bare t test at every look; SAME and REGRESSION at min effect {min_effect})", "",
              "| rule | spread | A/A FP, min effect 0 | A/A SAME | REGRESSION at +10% | processes a side, A/A |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    rules = [(f"{name} spending", SequentialDesign(alpha=alpha, spending=name), False) for name in SPENDING]
    rules += [("alpha at every look (naive)", design, True),
              (f"one look at {design.start}", SequentialDesign(alpha=alpha, start=design.start, max_n=design.start), False),
              (f"one look at {design.max_n}", SequentialDesign(alpha=alpha, start=design.max_n, max_n=design.max_n), False)]
    for s in (0.01, 0.02, 0.05):
        for label, d, naive in rules:
            bare, _ = sequential_verdicts(rng, d, s, 0.0, draws, min_effect=0.0, naive=naive)
            aa, n_aa = sequential_verdicts(rng, d, s, 0.0, draws, min_effect=min_effect, naive=naive)
            b10, _ = sequential_verdicts(rng, d, s, 0.10, draws, min_effect=min_effect, naive=naive)
            lines.append(f"| {label} | {s:.0%} | {_pct(false_positive_rate(bare))} | {_pct(aa['SAME'] / draws)} | "
                         f"{_pct(b10['REGRESSION'] / draws)} | {n_aa:.1f} |")
    return lines + [""]


def mad_spread(values: Sequence[float]) -> float:
    """The estimator `between_spread` replaced: 1.4826 x MAD / median."""
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    return float(1.4826 * np.median(np.abs(v - med)) / med)


def _pct(x: float) -> str:
    return f"{x:6.1%}"


def calibration_tables(draws: int, alpha: float, min_effect: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = [f"## Verdicts on simulated lognormal process figures ({draws} pairs a row, alpha {alpha}, "
             f"min effect {min_effect}; FP = REGRESSION or IMPROVEMENT under A/A, bound = alpha + 3 SE = "
             f"{upper_bound(alpha, draws):.2%})", "",
             "| n | spread | A/A FP | A/A REGRESSION | A/A SAME | FP, min effect 0 | "
             + " | ".join(f"REGRESSION at +{e:.0%}" for e in EFFECTS) + " |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in EFFECTS) + " |"]
    worst = 0.0
    pooled = {n: [0.0, 0.0] for n in NS}
    for n in NS:
        for s in SPREADS:
            aa = verdicts(rng, n, s, 0.0, draws, min_effect=min_effect, alpha=alpha)
            bare = verdicts(rng, n, s, 0.0, draws, min_effect=0.0, alpha=alpha)
            power = [verdicts(rng, n, s, e, draws, min_effect=min_effect, alpha=alpha)["REGRESSION"] / draws
                     for e in EFFECTS]
            fp, fp0 = false_positive_rate(aa), false_positive_rate(bare)
            worst = max(worst, fp, fp0)
            pooled[n][0] += fp * draws
            pooled[n][1] += fp0 * draws
            lines.append(f"| {n} | {s:.1%} | {_pct(fp)} | {_pct(aa['REGRESSION'] / draws)} | "
                         f"{_pct(aa['SAME'] / draws)} | {_pct(fp0)} | " + " | ".join(_pct(p) for p in power) + " |")
    verdict = "within" if worst <= upper_bound(alpha, draws) else "ABOVE"
    lines += ["", f"Worst false-positive rate: {worst:.2%} ({verdict} alpha {alpha} + simulation error).", "",
              f"Pooled over spreads, A/A false-positive rate (min effect {min_effect} / 0): "
              + ", ".join(f"n={n} {pooled[n][0] / (draws * len(SPREADS)):.2%} / {pooled[n][1] / (draws * len(SPREADS)):.2%}"
                          for n in NS), "",
              "## Same median, the candidate's spread 10x the baseline's (0.5% vs 5%): not an A/A, but where "
              "Welch's df falls towards n - 1", "",
              f"| n | FP, min effect {min_effect} | FP, min effect 0 |", "| ---: | ---: | ---: |"]
    for n in NS:
        fp = [false_positive_rate(verdicts(rng, n, 0.005, 0.0, draws, min_effect=e, alpha=alpha, cand_spread=0.05))
              for e in (min_effect, 0.0)]
        lines.append(f"| {n} | {_pct(fp[0])} | {_pct(fp[1])} |")
    return lines + [""]


def estimator_tables(draws: int, seed: int, max_between: float) -> list[str]:
    rng = np.random.default_rng(seed + 1)
    lines = [f"## Between-process spread estimators ({draws * 10} cells a row; mean and median as a share of "
             "the true log-SD)", "",
             "| n | SD of logs / c4 (now): mean | median | 1.4826 MAD / median (before): mean | median |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    sigma = 0.02
    for n in NS:
        cells = [draw(rng, n, sigma) for _ in range(draws * 10)]
        new = np.array([between_spread(c) for c in cells]) / sigma
        old = np.array([mad_spread(c) for c in cells]) / sigma
        lines.append(f"| {n} | {new.mean():.3f} | {np.median(new):.3f} | {old.mean():.3f} | {np.median(old):.3f} |")
    lines += ["", f"## Cells marked invalid (between-process spread > max_between {max_between:.0%}), "
              f"{draws * 10} cells a row", "",
              "| true spread | n | now | before |", "| ---: | ---: | ---: | ---: |"]
    for sigma in (0.02, 0.05, 0.08, 0.10):
        for n in (3, 5):
            cells = [draw(rng, n, sigma) for _ in range(draws * 10)]
            new = np.mean([between_spread(c) > max_between for c in cells])
            old = np.mean([mad_spread(c) > max_between for c in cells])
            lines.append(f"| {sigma:.0%} | {n} | {new:.2%} | {old:.2%} |")
    return lines + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=2000, help="simulated pairs per table row")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--min-effect", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("all", "sequential"), default="all",
                    help="'sequential': only the sequential rule's tables")
    args = ap.parse_args()
    if args.only == "sequential":
        print("\n".join(sequential_tables(args.draws, args.alpha, args.min_effect, args.seed)))
        return 0
    lines = calibration_tables(args.draws, args.alpha, args.min_effect, args.seed)
    lines += sequential_tables(args.draws, args.alpha, args.min_effect, args.seed)
    lines += estimator_tables(args.draws, args.seed, TimingPlan().max_between)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
