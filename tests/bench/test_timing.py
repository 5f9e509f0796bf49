"""TimingPlan validation and the measurement loop's stopping rules."""

from __future__ import annotations

import time

import numpy as np
import pytest

from twinbench.bench.timing import TimingPlan, measure, warm_up
from twinbench.core.errors import ConfigError


def test_defaults() -> None:
    p = TimingPlan()
    assert (p.warmup_iters, p.warmup_s, p.min_iters, p.min_s, p.max_s) == (5, 0.2, 30, 1.0, 10.0)
    assert (p.round_s, p.repeats, p.max_spread, p.max_between) == (0.05, 1, 0.5, 0.1)
    assert TimingPlan.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("field,value", [
    ("warmup_iters", -1), ("warmup_iters", 1.5), ("warmup_s", -0.1), ("min_iters", 0), ("min_iters", True),
    ("min_s", -1.0), ("max_s", 0), ("max_s", float("nan")), ("max_spread", 0.0), ("max_spread", "x"),
    ("repeats", 0), ("repeats", 2.5), ("round_s", 0), ("max_between", -1.0),
])
def test_plan_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        TimingPlan(**{field: value})


def test_max_s_below_min_s_is_rejected() -> None:
    with pytest.raises(ConfigError, match="max_s"):
        TimingPlan(min_s=2.0, max_s=1.0)


def test_unknown_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="timing"):
        TimingPlan.from_dict({"min_iter": 3})


def test_min_iters_reached_when_calls_are_fast() -> None:
    ns = measure(lambda: None, None, TimingPlan(warmup_iters=0, warmup_s=0, min_iters=50, min_s=0, max_s=5))
    assert ns.dtype == np.int64 and len(ns) == 50 and (ns >= 0).all()


def test_min_s_keeps_measuring_after_min_iters() -> None:
    t0 = time.perf_counter()
    ns = measure(lambda: None, None, TimingPlan(warmup_iters=0, warmup_s=0, min_iters=1, min_s=0.2, max_s=5))
    assert time.perf_counter() - t0 >= 0.2
    assert len(ns) > 100  # a no-op call is far below a millisecond


def test_max_s_stops_before_min_iters() -> None:
    plan = TimingPlan(warmup_iters=0, warmup_s=0, min_iters=1000, min_s=0.0, max_s=0.1)
    t0 = time.perf_counter()
    ns = measure(lambda: time.sleep(0.01), None, plan)
    assert time.perf_counter() - t0 < 1.0
    assert 3 <= len(ns) < 1000
    assert ns.min() >= 10_000_000  # each sample includes the 10 ms sleep


def test_buffer_grows_past_initial_capacity() -> None:
    ns = measure(lambda: None, None, TimingPlan(warmup_iters=0, warmup_s=0, min_iters=10_000, min_s=0, max_s=30))
    assert len(ns) == 10_000


def test_sync_is_inside_the_timed_region() -> None:
    ns = measure(lambda: None, lambda: time.sleep(0.002),
                 TimingPlan(warmup_iters=1, warmup_s=0, min_iters=5, min_s=0, max_s=5))
    assert ns.min() >= 2_000_000


def test_warm_up_honours_count_and_time() -> None:
    calls = []
    n = warm_up(lambda: calls.append(1), None, TimingPlan(warmup_iters=7, warmup_s=0, min_s=0))
    assert n == len(calls) == 7
    t0 = time.perf_counter()
    n = warm_up(lambda: None, None, TimingPlan(warmup_iters=1, warmup_s=0.05, min_s=0))
    assert time.perf_counter() - t0 >= 0.05 and n > 1
