"""Statistics in one place: summaries of per-iteration samples (int64 ns, reported in ms), and the
small-sample statistics over process figures that the headline (bench/repeats.py), the compare
verdicts (reports/verdicts.py), history steps and pytest-benchmark imports share.

Student t quantiles and tail probabilities are SciPy's (exact, any real df): the suite works at
3 processes a side, where an expansion around the normal quantile is 12% off at 2 df."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

#: Keys `summarize` returns (a subset of schema.RESULTS_COLUMNS).
STAT_KEYS = ("iterations", "measured_s", "min_ms", "mean_ms", "std_ms", "p50_ms", "p90_ms", "p95_ms",
             "p99_ms", "max_ms", "cv", "spread", "throughput_sps")


def summarize(ns: Any, batch: int) -> dict[str, float]:
    """min/mean/std/percentiles/max in ms, CV and throughput (samples per second = batch / mean s).

    std is the sample standard deviation (ddof=1; 0 for one sample); percentiles use numpy's
    linear interpolation. Empty input gives NaN everywhere and 0 iterations."""
    a = np.asarray(ns, dtype=np.int64)
    if a.ndim != 1:
        a = a.reshape(-1)
    n = int(a.size)
    if n == 0:
        out: dict[str, float] = {k: math.nan for k in STAT_KEYS}
        out["iterations"] = 0
        out["measured_s"] = 0.0
        return out
    q25, q75 = np.percentile(a, [25, 75])
    ms = a.astype(np.float64) / 1e6
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if n > 1 else 0.0
    p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, [50, 90, 95, 99]))
    return {
        "iterations": n,
        "measured_s": float(a.sum()) / 1e9,
        "min_ms": float(ms.min()),
        "mean_ms": mean,
        "std_ms": std,
        "p50_ms": p50,
        "p90_ms": p90,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": float(ms.max()),
        "cv": std / mean if mean > 0 else math.nan,
        "spread": float((q75 - q25) / (p50 * 1e6)) if p50 > 0 else math.nan,
        "throughput_sps": batch / (mean / 1e3) if mean > 0 else math.nan,
    }


def validity(stats: dict[str, Any], plan: Any) -> str:
    """'' when one process's samples meet the plan, else why they do not (the cell is then
    `invalid`). The spread rule is IQR / median, not the CV: one preempted call in ten thousand
    moves the CV of a microsecond cell a lot and its IQR not at all."""
    reasons = []
    if stats["iterations"] < plan.min_iters:
        reasons.append(f"{stats['iterations']} iterations < min_iters {plan.min_iters}")
    # min_s cannot be missed on its own: max_s >= min_s and the loop only stops early at max_s,
    # so a short run shows up as too few iterations.
    spread = stats.get("spread")
    if spread is not None and not math.isnan(spread) and spread > plan.max_spread:
        reasons.append(f"spread (IQR/median) {spread:.3f} > max_spread {plan.max_spread}")
    return "; ".join(reasons)



#: Error rates behind the minimum detectable effect (the compare's own defaults).
ALPHA, POWER = 0.01, 0.80
#: A process figure this much above its side's median, and an outlier by Rosner's ESD test, ran in a
#: slow state the probe did not see: it is left out, at most a third of a side (docs/measurement.md).
SLOW_OUTLIER = 0.10
#: The level of the outlier test behind `drop_slow_outliers`: the chance that a side with no
#: outlier loses a figure to it.
OUTLIER_LEVEL = 0.001


def t_quantile(q: float, df: float) -> float:
    """Student t quantile at probability `q` with `df` (> 0, not necessarily whole) degrees of freedom."""
    from scipy import special

    return float(special.stdtrit(df, q))


def t_sf(t: float, df: float) -> float:
    """P(T >= t) for Student's t with `df` degrees of freedom."""
    from scipy import special

    return float(special.stdtr(df, -t))


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|): the p-value of a two-sided t test (0 for an infinite t)."""
    if not math.isfinite(t):
        return 0.0 if not math.isnan(t) else math.nan
    return min(1.0, 2.0 * t_sf(abs(t), df))


def welch_df(var_a: float, n: int, var_b: float, m: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two means (sample variances
    `var_a`, `var_b` of n and m values). Lies between min(n, m) - 1 and n + m - 2; n + m - 2 when
    both variances are zero (nothing to weigh)."""
    a, b = var_a / n, var_b / m
    if a + b <= 0:
        return float(n + m - 2)
    return (a + b) ** 2 / (a * a / (n - 1) + b * b / (m - 1))


def mde(spread: float, n: int, m: int | None = None, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest relative change a two-sided Welch test of n vs m process figures, each side with
    relative spread `spread` (SD of the logs), detects at `alpha` with `power`, at Welch's degrees
    of freedom (n + m - 2 when n = m). NaN with fewer than 2 processes a side."""
    m = n if m is None else m
    if not (n >= 2 and m >= 2) or not math.isfinite(spread):
        return math.nan
    v = spread * spread
    df = welch_df(v, n, v, m)
    se = spread * math.sqrt(1 / n + 1 / m)
    return math.expm1((t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * se)


def drop_slow_outliers(values: Sequence[float], *, level: float = OUTLIER_LEVEL) -> tuple[list[float], int]:
    """(kept figures sorted, how many were left out). Only slow ones: a machine's states add time,
    they never make a call faster than the code is.

    A figure goes when it is at least SLOW_OUTLIER above the side's median and Rosner's generalized
    ESD test (one-sided, on logs, at `level`) calls it an outlier; at most a third of a side goes,
    and none of fewer than 4 figures (with 3, an outlier cannot be told from spread). ESD's
    critical values come from the t distribution, so a side without outliers loses a figure with
    probability about `level` whatever its spread: a fixed multiple of a 4-figure MAD dropped 5-6%
    of honest figures at a 10% spread and pushed the A/A false-positive rate above alpha."""
    v = sorted(float(x) for x in values if x == x and 0 < x < math.inf)
    n = len(v)
    if n < 4:
        return v, 0
    logs = np.log(np.asarray(v))
    floor = float(np.median(logs)) + math.log1p(SLOW_OUTLIER)
    found = 0
    for i in range(1, n // 3 + 1):  # remove the top figure i - 1 times, test the next one
        rest = logs[: n - i + 1]
        k, sd = rest.size, float(rest.std(ddof=1))
        if sd <= 0:
            break
        t = t_quantile(1 - level / k, k - 2)
        critical = (k - 1) * t / math.sqrt((k - 2 + t * t) * k)
        if (rest[-1] - rest.mean()) / sd > critical and rest[-1] >= floor:
            found = i  # the largest i that passes is the number of outliers (ESD's step-down rule)
    return v[: n - found], found


def c4(n: int) -> float:
    """E[s] / sigma for n normal values (s: sample SD, ddof 1): 0.886 at n = 3, 0.940 at 5."""
    return math.sqrt(2 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def between_spread(values: Any) -> float:
    """Relative spread between a cell's process figures: the SD of their logs over c4(n), an
    unbiased estimate of the relative SD at any n (1.4826 x MAD / median, used before, averages
    0.67 of the true value at n = 3 and has its median at half of it). Slow outliers are left out
    first exactly as the compare leaves them out (at 4 figures or more), so the spread and MDE a
    results row carries are those the compare will test with. NaN with fewer than 2 figures."""
    kept, _ = drop_slow_outliers([float(x) for x in np.asarray(values, dtype=np.float64).ravel()])
    if len(kept) < 2:
        return math.nan
    logs = np.log(np.asarray(kept))
    return float(logs.std(ddof=1)) / c4(len(kept))
