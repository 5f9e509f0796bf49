"""Speed verdicts on process-level evidence: the statistics behind `twinbench compare`.

Per-iteration samples of one process are not independent evidence (the machine's state and the
process's own layout move all of them together), so a verdict tests *process figures*: one number
per worker process, its fast-state p50 (bench/repeats.py). Two runs of n and m processes give n + m
figures; on their logarithms:

- the effect is the difference of means (a ratio of geometric means), tested with Welch's t test
  (unequal spreads; its interval and p-value agree by construction);
- the minimum detectable effect (MDE) is what the interval's width lets the test see at `alpha`
  with 80% power.

A permutation test would need no distribution, but with 3 + 3 processes its smallest p-value is 0.1:
it could never speak at alpha 0.01. Process figures are medians of many calls, close to lognormal
(docs/measurement.md), which is what Welch's test on their logs assumes.

REGRESSION / IMPROVEMENT: significant, and the effect is beyond `min_effect`.
SAME: the whole interval lies within +-min_effect/2 (a confident "no change that matters").
INCONCLUSIVE: anything else, with the reason: too few valid processes, a noise floor (MDE) above
`min_effect`, a change smaller than `min_effect` that cannot be told from one, an invalid side, or
no round in the state the other run measured in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from twinbench.bench.repeats import POWER, t_quantile

#: Fewer valid processes than this on either side and no verdict is given.
MIN_PROCESSES = 3


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


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < eps:
            break
    return h


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2)."""
    if not math.isfinite(t):
        return 0.0
    x = df / (df + t * t)
    a, b = df / 2, 0.5
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return min(1.0, front * _betacf(a, b, x) / a)
    return min(1.0, 1 - front * _betacf(b, a, 1 - x) / b)


#: A process figure this much above its side's median (and 5 robust sigmas) ran in a slow state
#: the probe did not see: it is left out, at most a third of a side (docs/measurement.md).
SLOW_OUTLIER = 0.10


def drop_slow_outliers(values: Sequence[float]) -> tuple[list[float], int]:
    """(kept figures, how many were left out). Only slow ones: a machine's states add time, they
    never make a call faster than the code is."""
    v = sorted(x for x in values if x == x and x > 0)
    if len(v) < 4:
        return v, 0
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(np.asarray(v) - med)))
    limit = med * (1 + SLOW_OUTLIER) if med + 5 * mad <= med * (1 + SLOW_OUTLIER) else med + 5 * mad
    keep = [x for x in v if x <= limit]
    keep = keep if len(v) - len(keep) <= len(v) // 3 else v[: len(v) - len(v) // 3]
    return keep, len(v) - len(keep)


def speed_test(base: Sequence[float], cand: Sequence[float], *, min_effect: float, alpha: float,
               base_invalid: str = "", cand_invalid: str = "") -> SpeedTest:
    """The verdict for one cell from its process figures (milliseconds, one per process)."""
    base, out_b = drop_slow_outliers(base)
    cand, out_c = drop_slow_outliers(cand)
    a = np.log(np.asarray(base, dtype=np.float64))
    b = np.log(np.asarray(cand, dtype=np.float64))
    n, m = a.size, b.size
    if n < MIN_PROCESSES or m < MIN_PROCESSES:
        ratio = math.exp(b.mean() - a.mean()) if n and m else math.nan
        return SpeedTest("INCONCLUSIVE", ratio, math.nan, math.nan, math.nan, math.nan, n, m,
                         f"too few valid processes ({n} baseline, {m} candidate; need {MIN_PROCESSES} each)")
    va, vb = a.var(ddof=1), b.var(ddof=1)
    se = math.sqrt(va / n + vb / m)
    df = (va / n + vb / m) ** 2 / ((va / n) ** 2 / (n - 1) + (vb / m) ** 2 / (m - 1)) if se > 0 else n + m - 2
    df = max(df, 2.0)
    est = b.mean() - a.mean()
    half = t_quantile(1 - alpha / 2, df) * se
    mde = math.expm1((t_quantile(1 - alpha / 2, df) + t_quantile(POWER, df)) * se)
    p = t_two_sided_p(est / se, df) if se > 0 else (0.0 if est else 1.0)
    lo, hi = math.exp(est - half), math.exp(est + half)
    ratio = math.exp(est)
    bound = math.log1p(min_effect)
    significant = est - half > 0 or est + half < 0  # the same as p < alpha
    if significant and est >= bound:
        verdict, reason = "REGRESSION", f"{ratio - 1:+.1%}, p={p:.3g}"
    elif significant and est <= -bound:
        verdict, reason = "IMPROVEMENT", f"{ratio - 1:+.1%}, p={p:.3g}"
    elif est - half >= -math.log1p(min_effect / 2) and est + half <= math.log1p(min_effect / 2):
        verdict, reason = "SAME", f"interval {lo - 1:+.1%}..{hi - 1:+.1%} within +-{min_effect / 2:.1%}"
    elif mde > min_effect:
        verdict, reason = "INCONCLUSIVE", f"noise floor: MDE {mde:.1%} > min effect {min_effect:.0%}"
    else:
        verdict, reason = "INCONCLUSIVE", (f"{ratio - 1:+.1%} (interval {lo - 1:+.1%}..{hi - 1:+.1%}) cannot be "
                                           f"told from a {min_effect:.0%} change")
    if out_b or out_c:
        reason += f"; slow outlier processes left out: baseline {out_b}, candidate {out_c}"
    invalid = "; ".join(x for x in (base_invalid and f"baseline {base_invalid}",
                                    cand_invalid and f"candidate {cand_invalid}") if x)
    if invalid and verdict in ("REGRESSION", "IMPROVEMENT"):
        verdict, reason = "INCONCLUSIVE", f"{verdict.lower()} {reason} but {invalid}"
    return SpeedTest(verdict, ratio, lo, hi, p, mde, n, m, reason)
