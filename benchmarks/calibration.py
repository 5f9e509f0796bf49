"""Calibration of the speed verdicts by simulation: how often `compare` cries wolf, and how often it
catches a real change, at the process counts and spreads the suite meets.

Process figures are drawn lognormal (log-SD = the between-process spread, as docs/measurement.md
argues they are), n per side, and judged by the real `reports/verdicts.speed_test`:

- A/A (no change): the false-positive rate (REGRESSION or IMPROVEMENT; target: at most alpha,
  within simulation error), the rate of REGRESSION alone (what fails a CI gate) and of SAME;
- A/B +5 / +10 / +20%: the fraction REGRESSION (the power curve);
- the same A/A draws with min_effect 0, where a verdict is the bare t test: its false-positive
  rate should sit at (just under) alpha, which checks the t quantiles and Welch's df themselves.

A second table checks the between-process spread estimator (bench/stats.py `between_spread`)
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

from twinbench.bench.stats import between_spread
from twinbench.bench.timing import TimingPlan
from twinbench.reports.verdicts import speed_test

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
    args = ap.parse_args()
    lines = calibration_tables(args.draws, args.alpha, args.min_effect, args.seed)
    lines += estimator_tables(args.draws, args.seed, TimingPlan().max_between)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
