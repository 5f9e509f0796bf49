"""Speed verdicts on process-level evidence: the statistics behind `twinbench compare`.

Per-iteration samples of one process are not independent evidence (the machine's state and the
process's own layout move all of them together), so a verdict tests *process figures*: one number
per worker process, its fast-state p50 (bench/repeats.py). Two runs of n and m processes give n + m
figures; on their logarithms:

- the effect is the difference of means (a ratio of geometric means), tested with Welch's t test
  (unequal spreads) with exact Student t quantiles and tails (bench/stats.py, SciPy) at the
  Welch-Satterthwaite degrees of freedom, so the interval excludes 1 exactly when p < alpha;
- the minimum detectable effect (MDE) is what the interval's width lets the test see at `alpha`
  with 80% power;
- an INCONCLUSIVE cell also says how many processes a side would likely decide it, from the
  observed spread and effect and the same MDE formula.

A permutation test would need no distribution, but with 3 + 3 processes its smallest p-value is 0.1:
it could never speak at alpha 0.01. Process figures are medians of many calls, close to lognormal
(docs/measurement.md), which is what Welch's test on their logs assumes.

REGRESSION / IMPROVEMENT: significant, and the effect is beyond `min_effect`.
SAME: the whole interval lies within +-min_effect/2 (a confident "no change that matters").
INCONCLUSIVE: anything else, with the reason: too few valid processes, a noise floor (MDE) above
`min_effect`, a change smaller than `min_effect` that cannot be told from one, an invalid side, or
no round in the state the other run measured in. When one side's spread dominates, Welch's degrees
of freedom fall towards that side's n - 1 (2 at 3 processes) and the interval widens; the reason
then says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from twinbench.bench.sequential import SequentialDesign
from twinbench.bench.stats import (POWER, drop_slow_outliers, mde as mde_of, t_quantile,  # noqa: F401 (re-exported)
                                   t_two_sided_p, welch_df)

#: Fewer valid processes than this on either side and no verdict is given.
MIN_PROCESSES = 3
#: Welch's df below this share of n + m - 2 is named in the reason: one side's spread dominates
#: (a standard-deviation ratio of about 3 at 3 + 3 processes) and the interval is that side's alone.
LOW_DF_SHARE = 0.6
#: Beyond this many processes a side, "more processes" is not advice worth giving.
MAX_ADVISED = 1000


@dataclass(frozen=True)
class SpeedTest:
    verdict: str          # REGRESSION | IMPROVEMENT | SAME | INCONCLUSIVE
    ratio: float          # candidate / baseline (geometric means of the process figures)
    ci_low: float
    ci_high: float
    p_value: float
    mde: float            # relative, e.g. 0.03
    n_base: int
    n_cand: int
    reason: str
    df: float = math.nan  # Welch-Satterthwaite degrees of freedom
    more_per_side: float = math.nan  # INCONCLUSIVE only: more processes a side that would likely decide it
    looks: int = 1        # the look of a sequential design this verdict was given at (1: a single test)
    level: float = math.nan  # the nominal two-sided level the test used (alpha for a single test)


def _share(x: float, sign: str = "") -> str:
    """A relative figure as a percentage; beyond 1000% just that (an early look's bounds can be huge)."""
    return f">{sign}1000%" if x > 10 else f"{x:{sign}.1%}"


def _exp(x: float) -> float:
    """exp that gives inf instead of overflowing."""
    return math.exp(x) if x < 700 else math.inf


def processes_to_decide(est: float, spread: float, *, min_effect: float, alpha: float,
                        power: float = POWER, start: int = MIN_PROCESSES) -> float:
    """Processes a side (at least `start`) with which a test of a true log-ratio `est` between
    figures of log-SD `spread` would likely (with `power`) decide: REGRESSION or IMPROVEMENT when
    |est| is beyond `min_effect` (the MDE must reach |est|), SAME when it is within min_effect/2
    (the MDE at power (1 + power) / 2, as both ends of the interval must stay inside, must fit in
    what is left of that margin). NaN where no count is likely to decide it: a
    change between min_effect/2 and min_effect, no spread to project from, or more than
    MAX_ADVISED processes."""
    if not (math.isfinite(est) and math.isfinite(spread)):
        return math.nan
    if abs(est) >= math.log1p(min_effect):
        target = abs(est)
    elif abs(est) < math.log1p(min_effect / 2):
        # SAME needs both ends of the interval inside the margin: power split over two sides
        target, power = math.log1p(min_effect / 2) - abs(est), (1 + power) / 2
    else:
        return math.nan
    if spread <= 0:
        return float(start)
    lo, hi = max(start, 2), MAX_ADVISED
    if math.log1p(mde_of(spread, hi, alpha=alpha, power=power)) > target:
        return math.nan
    while lo < hi:  # the MDE falls as n grows: bisect for the smallest n that reaches the target
        mid = (lo + hi) // 2
        if math.log1p(mde_of(spread, mid, alpha=alpha, power=power)) <= target:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def _more_processes(a: np.ndarray, b: np.ndarray, est: float, *, min_effect: float, alpha: float) -> tuple[float, str]:
    """(more processes a side, a reason fragment) for an INCONCLUSIVE cell, from the pooled
    log-SD of the sides that have one."""
    parts = [(x.size - 1, float(x.var(ddof=1))) for x in (a, b) if x.size >= 2]
    if not parts or not math.isfinite(est):
        return math.nan, ""
    spread = math.sqrt(sum(k * v for k, v in parts) / sum(k for k, _ in parts))
    have = min(a.size, b.size)
    need = processes_to_decide(est, spread, min_effect=min_effect, alpha=alpha, start=max(MIN_PROCESSES, have))
    if not math.isfinite(need):
        if abs(est) >= math.log1p(min_effect) or abs(est) < math.log1p(min_effect / 2):
            return math.nan, f"more than {MAX_ADVISED} processes a side would be needed to decide it"
        return math.nan, (f"a change of about {math.expm1(est):+.1%} lies between +-{min_effect / 2:.1%} and "
                          f"+-{min_effect:.0%}: more processes are not likely to decide it")
    more = max(need - have, 1.0)
    return more, (f"about {more:.0f} more process{'es' if more > 1 else ''} a side ({have + more:.0f} each) "
                  "would likely decide it")


def speed_test(base: Sequence[float], cand: Sequence[float], *, min_effect: float, alpha: float,
               base_invalid: str = "", cand_invalid: str = "", advise: bool = True,
               advise_alpha: float | None = None) -> SpeedTest:
    """The verdict for one cell from its process figures (milliseconds, one per process).
    `advise`: an INCONCLUSIVE verdict says how many more processes would likely decide it, tested
    at `advise_alpha` (default `alpha`; a sequential design's last look uses its own level)."""
    base, out_b = drop_slow_outliers(base)
    cand, out_c = drop_slow_outliers(cand)
    a = np.log(np.asarray(base, dtype=np.float64))
    b = np.log(np.asarray(cand, dtype=np.float64))
    n, m = a.size, b.size
    if n < MIN_PROCESSES or m < MIN_PROCESSES:
        est = float(b.mean() - a.mean()) if n and m else math.nan
        more, why = _more_processes(a, b, est, min_effect=min_effect, alpha=advise_alpha or alpha)
        reason = f"too few valid processes ({n} baseline, {m} candidate; need {MIN_PROCESSES} each)"
        return SpeedTest("INCONCLUSIVE", math.exp(est), math.nan, math.nan, math.nan, math.nan, n, m,
                         reason + (f"; {why}" if why else ""), more_per_side=more, level=alpha)
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    se = math.sqrt(va / n + vb / m)
    df = welch_df(va, n, vb, m)
    est = float(b.mean() - a.mean())
    t_crit = t_quantile(1 - alpha / 2, df)
    half = t_crit * se
    mde = _exp((t_crit + t_quantile(POWER, df)) * se) - 1.0
    p = t_two_sided_p(est / se, df) if se > 0 else (0.0 if est else 1.0)
    lo, hi = _exp(est - half), _exp(est + half)  # a very early look's bound can be huge
    ratio = math.exp(est)
    bound = math.log1p(min_effect)
    significant = p < alpha  # the interval excludes 1 exactly then: both use t(df) at 1 - alpha/2
    if significant and est >= bound:
        verdict, reason = "REGRESSION", f"{ratio - 1:+.1%}, p={p:.3g}"
    elif significant and est <= -bound:
        verdict, reason = "IMPROVEMENT", f"{ratio - 1:+.1%}, p={p:.3g}"
    elif est - half >= -math.log1p(min_effect / 2) and est + half <= math.log1p(min_effect / 2):
        verdict, reason = "SAME", f"interval {lo - 1:+.1%}..{hi - 1:+.1%} within +-{min_effect / 2:.1%}"
    elif mde > min_effect:
        verdict, reason = "INCONCLUSIVE", f"noise floor: MDE {_share(mde)} > min effect {min_effect:.0%}"
    else:
        verdict, reason = "INCONCLUSIVE", (f"{ratio - 1:+.1%} (interval {_share(lo - 1, '+')}..{_share(hi - 1, '+')}) cannot be "
                                           f"told from a {min_effect:.0%} change")
    if df < LOW_DF_SHARE * (n + m - 2):
        reason += (f"; Welch df {df:.1f} of {n + m - 2}: one side's spread dominates (baseline "
                   f"{math.sqrt(va):.2%}, candidate {math.sqrt(vb):.2%}), so the interval rests on its "
                   f"{(n if va / n > vb / m else m)} processes alone")
    if se == 0:
        reason += "; every figure on each side is the same: no spread to judge the change by"
    if out_b or out_c:
        reason += f"; slow outlier processes left out: baseline {out_b}, candidate {out_c}"
    invalid = "; ".join(x for x in (base_invalid and f"baseline {base_invalid}",
                                    cand_invalid and f"candidate {cand_invalid}") if x)
    if invalid and verdict in ("REGRESSION", "IMPROVEMENT"):
        verdict, reason = "INCONCLUSIVE", f"{verdict.lower()} {reason} but {invalid}"
    more = math.nan
    if verdict == "INCONCLUSIVE" and not invalid and advise:
        more, why = _more_processes(a, b, est, min_effect=min_effect, alpha=advise_alpha or alpha)
        reason += f"; {why}" if why else ""
    return SpeedTest(verdict, ratio, lo, hi, p, mde, n, m, reason, df, more, level=alpha)


#: Verdicts that end a sequential comparison of a cell.
DECIDED = ("REGRESSION", "IMPROVEMENT", "SAME")


def sequential_test(base: Sequence[float], cand: Sequence[float], *, min_effect: float, design: SequentialDesign,
                    look: int, base_invalid: str = "", cand_invalid: str = "", advise: bool = True) -> SpeedTest:
    """`speed_test` at look `look` of `design`: the test at that look's nominal level, whose
    interval is a repeated confidence interval (bench/sequential.py), so a verdict given at any
    look keeps the false-positive rate at most `design.alpha` over all of them."""
    looks = design.looks
    look = min(max(look, 1), len(looks))
    level = design.level(look)
    t = speed_test(base, cand, min_effect=min_effect, alpha=level, base_invalid=base_invalid,
                   cand_invalid=cand_invalid, advise=advise, advise_alpha=design.levels[-1])
    where = (f"look {look} of {len(looks)} ({'/'.join(str(n) for n in looks)} processes a side, "
             f"{design.spending} spending of alpha {design.alpha:g}: nominal level {level:.2g})")
    return dataclasses.replace(t, looks=look, level=level, reason=f"{t.reason}; {where}")


def stop_reason(verdict: str, ci_low: float, ci_high: float, *, look: int, design: SequentialDesign,
                min_effect: float) -> str:
    """Why a sequential comparison of a cell ends after look `look` ('' to measure more): a
    verdict, the last planned look, or a change the repeated confidence interval `ci_low`..`ci_high`
    already places between min_effect/2 and min_effect (it can be neither SAME nor REGRESSION /
    IMPROVEMENT, whatever more processes show). Stopping without a verdict never raises an error rate."""
    if verdict in DECIDED:
        return "decided"
    if look >= len(design.looks):
        return f"the last planned look ({design.max_n} processes a side)"
    if not (ci_low > 0 and ci_high > 0):
        return ""
    lo, hi = math.log(ci_low), math.log(ci_high)
    same, effect = math.log1p(min_effect / 2), math.log1p(min_effect)
    if (same < lo and hi < effect) or (-effect < lo and hi < -same):
        return (f"the change lies between +-{min_effect / 2:.1%} and +-{min_effect:.0%} "
                f"(interval {ci_low - 1:+.1%}..{ci_high - 1:+.1%}): more processes would not decide it")
    return ""
