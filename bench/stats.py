"""Summary statistics of per-iteration samples (int64 ns) in the units results tables use (ms)."""

from __future__ import annotations

import math
from typing import Any

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


def robust_spread(values: Any) -> float:
    """Relative spread of a few figures (one per process): 1.4826 * MAD / median, which estimates
    the relative standard deviation without letting one odd process decide it."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return math.nan
    med = float(np.median(v))
    return float(1.4826 * np.median(np.abs(v - med)) / med) if med > 0 else math.nan
