"""Exact numbers for the summary statistics and the small-sample statistics over process figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbench.bench.stats import (STAT_KEYS, between_spread, c4, drop_slow_outliers, mde, summarize, t_quantile, t_sf,
                                   t_two_sided_p, validity, welch_df)
from twinbench.bench.timing import TimingPlan


def test_exact_numbers() -> None:
    ns = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=np.int64) * 1_000_000  # 1..10 ms
    s = summarize(ns, batch=4)
    assert set(s) == set(STAT_KEYS)
    assert s["iterations"] == 10
    assert s["measured_s"] == pytest.approx(0.055)
    assert s["min_ms"] == 1.0 and s["max_ms"] == 10.0
    assert s["mean_ms"] == pytest.approx(5.5)
    assert s["std_ms"] == pytest.approx(math.sqrt(82.5 / 9))  # sample std (ddof=1)
    assert s["p50_ms"] == pytest.approx(5.5)
    assert s["p90_ms"] == pytest.approx(9.1)
    assert s["p95_ms"] == pytest.approx(9.55)
    assert s["p99_ms"] == pytest.approx(9.91)
    assert s["cv"] == pytest.approx(math.sqrt(82.5 / 9) / 5.5)
    assert s["throughput_sps"] == pytest.approx(4 / 0.0055)


def test_one_sample_has_zero_spread() -> None:
    s = summarize([2_000_000], batch=1)
    assert s["std_ms"] == 0.0 and s["cv"] == 0.0 and s["p99_ms"] == 2.0 and s["throughput_sps"] == 500.0


def test_empty_is_nan_not_an_error() -> None:
    s = summarize([], batch=1)
    assert s["iterations"] == 0 and math.isnan(s["mean_ms"])


def test_validity_reasons() -> None:
    plan = TimingPlan(min_iters=30, max_spread=0.5)
    assert validity(summarize([1_000_000] * 30, 1), plan) == ""
    assert "min_iters" in validity(summarize([1_000_000] * 3, 1), plan)
    # one preempted call in thirty: the CV jumps, the IQR does not, so the cell stays valid
    spiky = summarize([1_000_000] * 29 + [100_000_000], 1)
    assert spiky["cv"] > 3 and validity(spiky, plan) == ""
    bimodal = summarize([1_000_000] * 15 + [3_000_000] * 15, 1)
    assert "max_spread" in validity(bimodal, plan)


def test_t_distribution_matches_tables_at_the_few_df_the_suite_works_at() -> None:
    # printed tables: t(0.995, 2) = 9.925, t(0.995, 4) = 4.604, t(0.975, 8) = 2.306, t(0.8, 4) = 0.941
    assert t_quantile(0.995, 2) == pytest.approx(9.925, abs=1e-3)
    assert t_quantile(0.995, 4) == pytest.approx(4.604, abs=1e-3)
    assert t_quantile(0.975, 8) == pytest.approx(2.306, abs=1e-3)
    assert t_quantile(0.8, 4) == pytest.approx(0.941, abs=1e-3)
    assert t_sf(t_quantile(0.995, 2.7), 2.7) == pytest.approx(0.005, rel=1e-9)  # any real df, exact inverse
    assert t_two_sided_p(2.306, 8) == pytest.approx(0.05, abs=1e-4)
    assert t_two_sided_p(math.inf, 3) == 0.0 and t_two_sided_p(0.0, 3) == 1.0


def test_welch_df_lies_between_its_bounds() -> None:
    assert welch_df(1.0, 3, 1.0, 3) == pytest.approx(4.0)  # equal spreads, equal n: n + m - 2
    assert welch_df(1e-12, 3, 1.0, 3) == pytest.approx(2.0, abs=1e-6)  # one side dominates: its n - 1
    assert 2.0 < welch_df(1.0, 5, 2.0, 3) < 6.0
    assert welch_df(0.0, 3, 0.0, 5) == 6.0


def test_mde_at_welch_df() -> None:
    # n = m = 3, spread 2%: (t(0.995, 4) + t(0.8, 4)) x 0.02 x sqrt(2/3), as a ratio
    expect = math.expm1((4.604095 + 0.940965) * 0.02 * math.sqrt(2 / 3))
    assert mde(0.02, 3) == pytest.approx(expect, rel=1e-5)
    assert mde(0.01, 5) < mde(0.01, 3) < mde(0.02, 3)  # more processes or less spread: finer
    assert mde(0.02, 3, 8) < mde(0.02, 3, 3)
    assert math.isnan(mde(0.01, 1)) and math.isnan(mde(math.nan, 3))


def test_between_spread_is_unbiased_at_few_processes() -> None:
    """SD of the logs over c4(n): its mean is the true relative spread at 3, 4, 5 and 8 processes
    (the MAD estimator it replaced averaged 0.67 of it at 3)."""
    assert c4(3) == pytest.approx(0.8862, abs=1e-4) and c4(5) == pytest.approx(0.9400, abs=1e-4)
    rng = np.random.default_rng(7)
    for n in (3, 4, 5, 8):
        est = [between_spread(np.exp(rng.normal(0.0, 0.02, n))) for _ in range(8000)]
        assert np.mean(est) / 0.02 == pytest.approx(1.0, abs=0.025), n
    assert between_spread([1.0, 1.0, 1.0]) == 0.0 and math.isnan(between_spread([1.0]))
    # a slow outlier among 5 is left out, as the compare leaves it out
    assert between_spread([17.3, 17.05, 22.87, 17.37, 17.28]) < 0.01


def test_slow_outliers_go_and_honest_spread_stays() -> None:
    assert drop_slow_outliers([17.3, 17.05, 22.87, 17.37, 17.28]) == ([17.05, 17.28, 17.3, 17.37], 1)
    assert drop_slow_outliers([1.0, 1.01, 0.99, 1.0, 1.4, 1.45, 1.0, 1.02])[1] == 2  # two together: no masking
    assert drop_slow_outliers([1.0, 1.0, 1.01, 0.5, 1.0])[1] == 0  # fast figures never go
    assert drop_slow_outliers([1.0, 1.0, 1.3])[1] == 0  # three cannot tell an outlier from spread
    assert drop_slow_outliers([1.0, 1.0, 1.0, 1.001, 1.002])[1] == 0  # not 10% slower: not an outlier
    rng = np.random.default_rng(3)  # a side with no outlier loses a figure about 0.1% of the time
    lost = [drop_slow_outliers(np.exp(rng.normal(0.0, 0.10, 8)))[1] > 0 for _ in range(5000)]
    assert np.mean(lost) < 0.005
