"""compare_runs: A/A is quiet, a 10% slowdown is flagged, refusals are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from twinbench.errors import ConfigError, RunDirError
from twinbench.reports.compare import compare_markdown, compare_runs, has_regression
from twinbench.reports.significance import mann_whitney, median_ratio_ci, rank_average

from reportlib import MACHINE, VERSIONS, assert_valid_tables, make_run


def test_mann_whitney_exact_numbers() -> None:
    # Hand-computed: U=0, mu=4.5, var=5.25, z=(4.5-0.5)/sqrt(5.25) -> p=0.080856 (scipy agrees).
    u, p = mann_whitney(np.array([1, 2, 3]), np.array([4, 5, 6]))
    assert u == 0.0 and p == pytest.approx(0.0808556, abs=1e-6)
    u, p = mann_whitney(np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 4]))
    assert u == 8.0 and p == 1.0
    ranks, ties = rank_average(np.array([10, 20, 20, 30]))
    assert ranks.tolist() == [1.0, 2.5, 2.5, 4.0] and sorted(ties.tolist()) == [1, 1, 2]


def test_median_ratio_ci_covers_truth() -> None:
    rng = np.random.default_rng(0)
    a = rng.lognormal(0, 0.2, 3000) * 100
    b = rng.lognormal(0, 0.2, 3000) * 110
    r, lo, hi = median_ratio_ci(a, b)
    assert lo < 1.10 < hi and lo < r < hi


def test_a_a_is_quiet_and_slowdown_flagged(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", seed=1)
    rerun = make_run(tmp_path, "rerun", seed=2)
    slow = make_run(tmp_path, "slow", seed=3, slowdown=1.10)
    aa = compare_runs(base, rerun)
    assert not has_regression(aa), aa[aa["verdict"] != "SAME"]
    ab = compare_runs(base, slow)
    speed = ab[ab["kind"] == "speed"]
    ort = speed[speed["runtime"] == "ort-cpu"]
    assert (ort["verdict"] == "REGRESSION").all()
    assert (speed[speed["runtime"] != "ort-cpu"]["verdict"] != "REGRESSION").all()
    assert has_regression(ab)
    md = compare_markdown(ab)
    assert md.index("REGRESSION") < md.index("| SAME")
    assert_valid_tables(md)


def test_parity_change_is_a_regression(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", seed=1)
    worse = make_run(tmp_path, "worse", seed=1, extra_parity=50.0)
    df = compare_runs(base, worse)
    parity = df[df["kind"] == "parity"]
    assert (parity["verdict"] == "REGRESSION").all() and len(parity)
    assert (df[df["kind"] == "speed"]["verdict"] == "SAME").all()  # same seed: same samples
    assert "max abs grew 50x" in compare_markdown(df)


def test_refusals(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base")
    other_machine = make_run(tmp_path, "other", machine=dict(MACHINE, fingerprint="ffff", cpu_model="AMD EPYC"))
    other_libs = make_run(tmp_path, "libs", versions=dict(VERSIONS, onnxruntime="1.99.0"))
    with pytest.raises(ConfigError, match="machines differ"):
        compare_runs(base, other_machine)
    assert len(compare_runs(base, other_machine, allow_hardware=True))
    with pytest.raises(ConfigError, match="onnxruntime 1.32.0 -> 1.99.0"):
        compare_runs(base, other_libs)
    assert len(compare_runs(base, other_libs, allow_versions=True))
    disjoint = make_run(tmp_path, "disjoint", twins=("gru",))
    with pytest.raises(RunDirError, match="no cells in common"):
        compare_runs(base, disjoint)
    m = json.loads((disjoint / "manifest.json").read_text())
    (disjoint / "manifest.json").write_text(json.dumps(dict(m, schema_version=0)))
    with pytest.raises(RunDirError, match="schema_version"):
        compare_runs(base, disjoint)


def test_failed_candidate_cell_is_a_regression(tmp_path: Path) -> None:
    import pandas as pd

    from twinbench.reports.tables import write_table

    base = make_run(tmp_path, "base", seed=1)
    cand = make_run(tmp_path, "cand", seed=2)
    res = pd.read_parquet(cand / "results.parquet")
    i = res.index[(res["status"] == "ok")][0]
    res.loc[i, "status"], res.loc[i, "error"] = "failed", "worker crashed (signal 11)"
    write_table(res, cand, "results")
    df = compare_runs(base, cand)
    bad = df[df["verdict"] == "REGRESSION"]
    assert len(bad) == 1 and "signal 11" in bad["note"].iloc[0]
