"""The statistics behind run-vs-run verdicts, in numpy alone (no scipy dependency).

Latency samples of one process are autocorrelated (caches, frequency, neighbours), so the per-
iteration sample size overstates the evidence. Two guards: samples are thinned to at most
`MAX_POINTS` evenly spaced values before testing, and the confidence interval of the median ratio
comes from a *block* bootstrap, which keeps runs of neighbouring iterations together.
"""

from __future__ import annotations

import math

import numpy as np

#: At most this many (evenly spaced) samples per side enter the test and the bootstrap.
MAX_POINTS = 2000


def thin(a: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Evenly spaced subsample in time order (all of `a` when it is short enough)."""
    a = np.asarray(a)
    if a.size <= max_points:
        return a
    idx = np.linspace(0, a.size - 1, max_points).round().astype(np.int64)
    return a[idx]


def rank_average(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks with ties given their average rank, and the size of each tie group."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    _, first, counts = np.unique(xs, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # first is 0-based: ranks first+1 .. first+count
    ranks_sorted = np.repeat(avg, counts)
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = ranks_sorted
    return ranks, counts


def mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test, normal approximation with tie and continuity correction.

    Returns (U of `a`, p-value). Needs a few samples per side to be meaningful (n >= 8 or so)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    ranks, ties = rank_average(np.concatenate([a, b]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    tie_term = float((ties.astype(np.float64) ** 3 - ties).sum()) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:
        return u1, 1.0
    mu = n1 * n2 / 2.0
    diff = u1 - mu
    z = (abs(diff) - 0.5) / math.sqrt(var) if diff != 0 else 0.0
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return u1, min(1.0, p)


def _block_medians(a: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    n = a.size
    block = max(1, int(round(math.sqrt(n))))
    nblocks = math.ceil(n / block)
    starts = rng.integers(0, n - block + 1, size=(reps, nblocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(reps, -1)[:, :n]
    return np.median(a[idx], axis=1)


def median_ratio_ci(base: np.ndarray, cand: np.ndarray, *, level: float = 0.99, reps: int = 400,
                    seed: int = 0) -> tuple[float, float, float]:
    """median(cand) / median(base) and its percentile interval from a moving-block bootstrap."""
    base = thin(np.asarray(base, dtype=np.float64).reshape(-1))
    cand = thin(np.asarray(cand, dtype=np.float64).reshape(-1))
    if base.size == 0 or cand.size == 0:
        return math.nan, math.nan, math.nan
    mb, mc = float(np.median(base)), float(np.median(cand))
    ratio = mc / mb if mb > 0 else math.nan
    rng = np.random.default_rng(seed)
    rb = _block_medians(base, reps, rng)
    rc = _block_medians(cand, reps, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = rc / rb
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = (float(v) for v in np.nanpercentile(ratios, [tail, 100.0 - tail]))
    return ratio, lo, hi
