"""Group-sequential designs (bench/sequential.py): the boundaries spend exactly alpha (checked
against published values and against simulated Brownian paths), the looks are as planned, and a
bad design is one ConfigError line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbench.bench.sequential import SequentialDesign, boundaries, crossing_probabilities, schedule, spent
from twinbench.core.errors import ConfigError


def test_the_recursion_reproduces_classical_boundaries() -> None:
    # Pocock (1977): two equally spaced looks at two-sided 0.05 share the constant boundary 2.178
    assert sum(crossing_probabilities([2.178, 2.178], [0.5, 1.0])) == pytest.approx(0.05, abs=2e-4)
    # O'Brien-Fleming (1979): five looks, c_k = 2.040 sqrt(5 / k)
    bounds = [2.040 * math.sqrt(5 / k) for k in range(1, 6)]
    assert sum(crossing_probabilities(bounds, [k / 5 for k in range(1, 6)])) == pytest.approx(0.05, abs=2e-4)


def test_lan_demets_pocock_type_boundaries_match_published_values() -> None:
    """Lan-DeMets Pocock-type spending, five equal looks, two-sided 0.05: the tabulated values."""
    got = boundaries(tuple(k / 5 for k in range(1, 6)), 0.05, "pocock")
    assert got == pytest.approx((2.438, 2.427, 2.410, 2.397, 2.386), abs=2e-3)


@pytest.mark.parametrize("spending", ["pocock", "obrien-fleming"])
def test_each_look_spends_what_the_spending_function_allows(spending: str) -> None:
    fractions = [n / 12 for n in schedule(3, 12)]
    bounds = boundaries(tuple(fractions), 0.01, spending)
    crossed = crossing_probabilities(list(bounds), fractions)
    cumulative = np.cumsum(crossed)
    for t, c in zip(fractions, cumulative):
        assert c == pytest.approx(spent(t, 0.01, spending), rel=1e-4, abs=1e-9)


def test_boundaries_hold_on_simulated_brownian_paths() -> None:
    """Under no change, the z statistics of the looks cross their boundaries with probability
    alpha in all: 200,000 Brownian paths sampled at the looks."""
    rng = np.random.default_rng(1)
    looks = schedule(3, 12)
    fractions = np.array(looks) / 12
    bounds = np.array(boundaries(tuple(fractions), 0.05, "obrien-fleming"))
    steps = rng.normal(0.0, np.sqrt(np.diff(np.concatenate([[0.0], fractions]))), (200_000, len(looks)))
    z = np.cumsum(steps, axis=1) / np.sqrt(fractions)
    rate = float((np.abs(z) >= bounds).any(axis=1).mean())
    assert rate == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / 200_000))


def test_the_design_plans_its_looks_and_levels() -> None:
    d = SequentialDesign()
    assert d.spending == "obrien-fleming" and d.looks == (3, 5, 8, 12) == schedule(3, 12)
    assert schedule(3, 16) == (3, 5, 8, 12, 16) and schedule(5, 5) == (5,) and schedule(3, 4) == (3, 4)
    levels = d.levels
    assert all(0 < x < d.alpha for x in levels) and list(levels) == sorted(levels)  # O'Brien-Fleming: late looks get most
    assert levels[-1] > 0.9 * d.alpha  # the last look is nearly a fixed-sample test
    assert [d.look_of(n) for n in (1, 3, 4, 5, 8, 11, 12, 20)] == [1, 1, 1, 2, 3, 3, 4, 4]
    assert d.level(9) == levels[-1] and d.level(0) == levels[0]
    assert SequentialDesign(start=5, max_n=5).levels == (0.01,)  # one look: a plain test at alpha
    bonferroni = SequentialDesign(spending="bonferroni").levels
    assert bonferroni == pytest.approx((0.0025,) * 4)
    record = d.to_dict()
    assert record["looks"] == [3, 5, 8, 12] and len(record["levels"]) == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0.0}, "alpha: must be in (0, 1)"),
    ({"start": 1}, "processes at the first look"),
    ({"max_n": 2}, "--max-repeats: must be an integer >="),
    ({"spending": "haybittle"}, "spending: unknown rule 'haybittle'"),
])
def test_a_bad_design_is_one_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SequentialDesign(**kwargs)
