"""Exact numbers for the summary statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbench.bench.stats import STAT_KEYS, summarize, validity
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
