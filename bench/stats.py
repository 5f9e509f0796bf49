"""Summary statistics of per-iteration samples (int64 ns) in the units results tables use (ms)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Keys `summarize` returns (a subset of schema.RESULTS_COLUMNS).
STAT_KEYS = ("iterations", "measured_s", "min_ms", "mean_ms", "std_ms", "p50_ms", "p90_ms", "p95_ms",
             "p99_ms", "max_ms", "cv", "throughput_sps")


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
        "throughput_sps": batch / (mean / 1e3) if mean > 0 else math.nan,
    }


def validity(stats: dict[str, Any], plan: Any) -> str:
    """'' when the samples meet the plan, else why they do not (the cell is then `invalid`)."""
    reasons = []
    if stats["iterations"] < plan.min_iters:
        reasons.append(f"{stats['iterations']} iterations < min_iters {plan.min_iters}")
    # min_s cannot be missed on its own: max_s >= min_s and the loop only stops early at max_s,
    # so a short run shows up as too few iterations.
    cv = stats.get("cv")
    if cv is not None and not math.isnan(cv) and cv > plan.max_cv:
        reasons.append(f"cv {cv:.3f} > max_cv {plan.max_cv}")
    return "; ".join(reasons)
