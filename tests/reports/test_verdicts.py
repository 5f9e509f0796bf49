"""Speed verdicts (reports/verdicts.py): exact small-sample statistics, interval and p-value that
agree, a false-positive rate at most alpha (the calibration benchmark's own simulation), and the
advice an INCONCLUSIVE cell gives on how many more processes would decide it."""

from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from twinbench.reports.compare import compare_markdown, compare_runs
from twinbench.reports.verdicts import processes_to_decide, speed_test
from twinbench.summary import compare_summary

from reportlib import make_run

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "calibration.py"


def _calibration():
    spec = importlib.util.spec_from_file_location("twinbench_calibration_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_wide_interval_is_not_a_regression() -> None:
    """One side nearly constant, the other spread: Welch's df falls to 2 and t(0.995, 2) = 9.92;
    p = 0.0128 > alpha, so this is no regression, and the reason names the low df."""
    t = speed_test([10, 10.001, 10.002], [10.795, 11.0, 11.209], min_effect=0.05, alpha=0.01)
    assert t.verdict == "INCONCLUSIVE" or (t.verdict == "REGRESSION" and t.p_value < 0.01)
    assert t.verdict == "INCONCLUSIVE" and t.p_value == pytest.approx(0.0128, abs=2e-4)
    assert t.ci_low < 1.0 < t.ci_high and t.df == pytest.approx(2.0, abs=1e-3)
    assert "Welch df 2.0 of 4" in t.reason


def test_interval_and_p_value_agree() -> None:
    rng = np.random.default_rng(2)
    seen = Counter()
    for _ in range(1500):
        n, m = rng.integers(3, 9, 2)
        sa, sb = rng.choice([0.002, 0.01, 0.05], 2)
        effect = rng.choice([0.0, 0.02, 0.05, 0.1])
        t = speed_test(list(np.exp(rng.normal(0, sa, n))), list((1 + effect) * np.exp(rng.normal(0, sb, m))),
                       min_effect=0.05, alpha=0.01)
        excludes = t.ci_low > 1.0 or t.ci_high < 1.0
        assert excludes == (t.p_value < 0.01), t
        seen[excludes] += 1
        if t.verdict in ("REGRESSION", "IMPROVEMENT"):
            assert t.p_value < 0.01
    assert seen[True] > 100 and seen[False] > 100


def test_false_positive_rate_is_at_most_alpha() -> None:
    """A/A on lognormal figures at 3, 4, 5 and 8 processes a side, the real speed_test, with and
    without a minimum effect (without it, a verdict is the bare t test): at most alpha, within the
    simulation's error."""
    cal = _calibration()
    rng = np.random.default_rng(20261123)
    alpha, draws = 0.01, 600
    pooled = Counter()
    for n in cal.NS:
        for spread in (0.02, 0.10):
            for min_effect in (0.0, 0.05):
                counts = cal.verdicts(rng, n, spread, 0.0, draws, min_effect=min_effect, alpha=alpha)
                assert cal.false_positive_rate(counts) <= cal.upper_bound(alpha, draws), (n, spread, counts)
                if min_effect == 0.0:
                    pooled += counts
    total = sum(pooled.values())
    assert cal.false_positive_rate(pooled) <= cal.upper_bound(alpha, total), pooled
    # and the gate still sees: +20% at 2% spread and 3 processes is a REGRESSION nearly always
    power = cal.verdicts(rng, 3, 0.02, 0.20, 300, min_effect=0.05, alpha=alpha)["REGRESSION"] / 300
    assert power > 0.9


def test_inconclusive_says_how_many_more_processes_would_decide_it() -> None:
    t = speed_test([1.0, 1.02, 0.985], [1.005, 0.99, 1.015], min_effect=0.05, alpha=0.01)
    assert t.verdict == "INCONCLUSIVE" and t.more_per_side >= 1
    assert f"about {t.more_per_side:.0f} more processes a side" in t.reason
    # the projection holds: with the count it gives for a true 1% spread and no change, SAME comes
    # out in most pairs
    need = processes_to_decide(0.0, 0.01, min_effect=0.05, alpha=0.01)
    assert 4 <= need <= 10
    rng = np.random.default_rng(4)
    same = sum(speed_test(list(np.exp(rng.normal(0, 0.01, int(need)))), list(np.exp(rng.normal(0, 0.01, int(need)))),
                          min_effect=0.05, alpha=0.01).verdict == "SAME" for _ in range(200))
    assert same >= 140
    # a change between min_effect/2 and min_effect cannot be decided by more processes
    assert math.isnan(processes_to_decide(math.log(1.035), 0.01, min_effect=0.05, alpha=0.01))
    # a side with too few processes still gets advice from the spread it has
    t = speed_test([1.0, 1.01], [1.0, 1.02, 0.99], min_effect=0.05, alpha=0.01)
    assert "too few valid processes" in t.reason and t.more_per_side >= 1


def test_compare_reports_more_processes_per_inconclusive_cell(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", seed=1, repeats=3)
    cand = make_run(tmp_path, "cand", seed=2, repeats=3)
    df = compare_runs(base, cand)
    speed = df[df["kind"] == "speed"]
    undecided = speed[(speed["verdict"] == "INCONCLUSIVE") & speed["more_per_side"].notna()]
    assert len(undecided)
    assert (undecided["more_per_side"] >= 1).all()
    assert undecided["note"].str.contains("more process").all()
    assert speed[speed["verdict"] != "INCONCLUSIVE"]["more_per_side"].isna().all()
    assert "would likely decide it" in compare_markdown(df)
    cells = json.loads(json.dumps(compare_summary(df, 0, "two independent runs")["cells"]))
    counts = [c["more_per_side"] for c in cells if c["kind"] == "speed" and c["more_per_side"] is not None]
    assert counts and all(isinstance(c, int) and c >= 1 for c in counts)
