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

from twinbench.bench.sequential import SequentialDesign
from twinbench.reports.compare import compare_markdown, compare_runs
from twinbench.reports.verdicts import processes_to_decide, sequential_test, speed_test, stop_reason
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


def test_the_sequential_rule_keeps_the_false_positive_rate_at_most_alpha() -> None:
    """The gate's rule (looks at 3, 5, 8, 12 processes a side, stopping at a verdict), simulated
    with the calibration benchmark's own functions: A/A false positives at most alpha (also with
    min effect 0, a bare t test at every look, the strict check of the boundaries), where testing
    every look at alpha itself goes above it."""
    cal = _calibration()
    rng = np.random.default_rng(20261205)
    design = SequentialDesign()
    draws = 500
    pooled = Counter()
    for spread in (0.01, 0.05):
        counts, _ = cal.sequential_verdicts(rng, design, spread, 0.0, draws, min_effect=0.0)
        assert cal.false_positive_rate(counts) <= cal.upper_bound(design.alpha, draws), (spread, counts)
        pooled += counts
        counts, _ = cal.sequential_verdicts(rng, design, spread, 0.0, draws, min_effect=0.05)
        assert cal.false_positive_rate(counts) <= cal.upper_bound(design.alpha, draws), (spread, counts)
    assert cal.false_positive_rate(pooled) <= cal.upper_bound(design.alpha, 2 * draws)
    naive, _ = cal.sequential_verdicts(rng, design, 0.01, 0.0, 2 * draws, min_effect=0.0, naive=True)
    assert cal.false_positive_rate(naive) > design.alpha  # why alpha is spent, not reused


def test_the_sequential_rule_decides_where_one_look_cannot() -> None:
    """At a 1% spread one look at 3 processes rarely says SAME; the sequential rule nearly always
    does. At a 2% spread it catches +10% nearly always, one look at 3 about half the time. It never
    calls a +5% change SAME."""
    cal = _calibration()
    rng = np.random.default_rng(7)
    design = SequentialDesign()
    draws = 200
    seq, used = cal.sequential_verdicts(rng, design, 0.01, 0.0, draws, min_effect=0.05)
    once = cal.verdicts(rng, 3, 0.01, 0.0, draws, min_effect=0.05, alpha=0.01)
    assert seq["SAME"] / draws >= 0.9 > 0.3 >= once["SAME"] / draws
    assert used < design.max_n  # it stops once decided
    seq, _ = cal.sequential_verdicts(rng, design, 0.02, 0.10, draws, min_effect=0.05)
    once = cal.verdicts(rng, 3, 0.02, 0.10, draws, min_effect=0.05, alpha=0.01)
    assert seq["REGRESSION"] / draws >= 0.95 > 0.8 >= once["REGRESSION"] / draws
    five, _ = cal.sequential_verdicts(rng, design, 0.01, 0.05, draws, min_effect=0.05)
    assert five["SAME"] == five["IMPROVEMENT"] == 0


def test_a_look_says_where_it_is_and_when_to_stop() -> None:
    design = SequentialDesign()
    t = sequential_test([1.0, 1.01, 0.99], [1.0, 1.005, 0.995], min_effect=0.05, design=design, look=1)
    assert t.verdict == "INCONCLUSIVE" and t.looks == 1 and t.level == design.levels[0]
    assert "look 1 of 4 (3/5/8/12 processes a side, obrien-fleming spending" in t.reason
    assert stop_reason(t.verdict, t.ci_low, t.ci_high, look=1, design=design, min_effect=0.05) == ""
    assert stop_reason("SAME", 0.99, 1.01, look=2, design=design, min_effect=0.05) == "decided"
    assert stop_reason("INCONCLUSIVE", 0.9, 1.1, look=4, design=design, min_effect=0.05).startswith("the last planned look")
    # a change the interval places between min_effect/2 and min_effect: no count would decide it
    assert "would not decide it" in stop_reason("INCONCLUSIVE", 1.03, 1.045, look=2, design=design, min_effect=0.05)
    assert "would not decide it" in stop_reason("INCONCLUSIVE", 1 / 1.045, 1 / 1.03, look=2, design=design,
                                                min_effect=0.05)
    assert stop_reason("INCONCLUSIVE", 1.02, 1.045, look=2, design=design, min_effect=0.05) == ""
    assert stop_reason("INCONCLUSIVE", math.nan, math.nan, look=1, design=design, min_effect=0.05) == ""
    # the first look's bounds can be astronomically wide: reported, never an overflow
    t = sequential_test([1.0, 1.01, 0.99], [1.0, 1.3, 1.0], min_effect=0.05, design=design, look=1)
    assert t.verdict == "INCONCLUSIVE" and "MDE >1000%" in t.reason and t.more_per_side >= 1


def test_compare_with_a_design_judges_each_cell_at_its_look(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", seed=1, repeats=5)
    cand = make_run(tmp_path, "cand", seed=2, repeats=5)
    plain = compare_runs(base, cand)
    speed = plain[plain["kind"] == "speed"]
    assert (speed["looks"] == 1).all() and (speed["level"] == 0.01).all()
    assert "| looks |" in compare_markdown(plain) and "Sequential:" not in compare_markdown(plain)
    design = SequentialDesign()
    seq = compare_runs(base, cand, design=design)
    speed = seq[(seq["kind"] == "speed") & (seq["n_base"] > 0)]
    assert len(speed) and (speed["looks"] == 2).all() and (speed["level"] == design.levels[1]).all()  # 5 a side: look 2
    md = compare_markdown(seq)
    assert "Sequential: looks at 3/5/8/12 processes a side" in md and "obrien-fleming" in md
    cells = json.loads(json.dumps(compare_summary(seq, 0, "x")["cells"]))
    assert all(isinstance(c["looks"], int) for c in cells if c["kind"] == "speed")
