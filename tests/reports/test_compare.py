"""compare_runs: A/A is quiet, a 10% slowdown is flagged, machine states are compared state for state,
refusals are one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.compare import compare_markdown, compare_runs, has_regression

from reportlib import MACHINE, VERSIONS, assert_valid_tables, make_run


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
    speed = df[df["kind"] == "speed"]
    assert not speed["verdict"].isin(["REGRESSION", "IMPROVEMENT"]).any()  # same seed: same figures
    # the one invalid cell has no process figures: no verdict, and the reason says so
    assert speed[speed["verdict"] != "SAME"]["note"].str.contains("too few valid processes").any()
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

    from twinbench.core.tables import write_table

    base = make_run(tmp_path, "base", seed=1)
    cand = make_run(tmp_path, "cand", seed=2)
    res = pd.read_parquet(cand / "results.parquet")
    i = res.index[(res["status"] == "ok")][0]
    res.loc[i, "status"], res.loc[i, "error"] = "failed", "worker crashed (signal 11)"
    write_table(res, cand, "results")
    df = compare_runs(base, cand)
    bad = df[df["verdict"] == "REGRESSION"]
    assert len(bad) == 1 and "signal 11" in bad["note"].iloc[0]


def test_machine_state_mix_is_not_a_regression(tmp_path: Path) -> None:
    """The candidate spent 60% of its rounds in the VM's slow state (calls 1.5x slower), the
    baseline 10%: the same code, so no verdict may claim a change (figures are compared state for
    state; a per-sample median would show a large slowdown)."""
    base = make_run(tmp_path, "base", seed=1, slow_state=0.1)
    cand = make_run(tmp_path, "cand", seed=2, slow_state=0.6)
    df = compare_runs(base, cand)
    speed = df[df["kind"] == "speed"]
    assert not speed["verdict"].isin(["REGRESSION", "IMPROVEMENT"]).any()
    assert (speed["verdict"] == "SAME").sum() > len(speed) // 4


def test_a_state_only_one_run_saw_gives_inconclusive(tmp_path: Path) -> None:
    """A candidate that never ran in the fast state cannot be compared with a baseline that did."""
    base = make_run(tmp_path, "base", seed=1, slow_state=0.0)
    cand = make_run(tmp_path, "cand", seed=2, slow_state=1.0)
    speed = compare_runs(base, cand)
    speed = speed[speed["kind"] == "speed"]
    timed = speed[speed["note"].str.contains("processes with a fast-state round: baseline 5/5, candidate 0/5")]
    assert len(timed) and (timed["verdict"] == "INCONCLUSIVE").all()
    assert not speed["verdict"].isin(["REGRESSION", "IMPROVEMENT"]).any()


def test_speed_test_numbers() -> None:
    from twinbench.reports.verdicts import speed_test, t_two_sided_p

    assert t_two_sided_p(2.306, 8) == pytest.approx(0.05, abs=1e-4)  # tables: t(0.975, 8) = 2.306
    same = [1.0, 1.01, 0.99, 1.005, 0.995]
    assert speed_test(same, same, min_effect=0.05, alpha=0.01).verdict == "SAME"
    slow = [v * 1.10 for v in same]
    t = speed_test(same, slow, min_effect=0.05, alpha=0.01)
    assert t.verdict == "REGRESSION" and t.ratio == pytest.approx(1.10) and t.ci_low > 1.0
    assert speed_test(same, [v * 0.9 for v in same], min_effect=0.05, alpha=0.01).verdict == "IMPROVEMENT"
    # a real 3% change below a 5% minimum effect is neither SAME nor a regression
    assert speed_test(same, [v * 1.03 for v in same], min_effect=0.05, alpha=0.01).verdict == "INCONCLUSIVE"
    noisy = [1.0, 1.2, 0.85, 1.1, 0.9]
    t = speed_test(noisy, [v * 1.10 for v in noisy], min_effect=0.05, alpha=0.01)
    assert t.verdict == "INCONCLUSIVE" and "noise floor" in t.reason and t.mde > 0.05
    t = speed_test(same[:2], same, min_effect=0.05, alpha=0.01)
    assert t.verdict == "INCONCLUSIVE" and "too few valid processes" in t.reason
    t = speed_test(same, slow, min_effect=0.05, alpha=0.01, cand_invalid="between-process spread 14%")
    assert t.verdict == "INCONCLUSIVE" and "candidate between-process" in t.reason


def test_a_process_stuck_in_an_unseen_slow_state_is_left_out() -> None:
    """One baseline process 30% slow (a state the probe did not catch) would make the noise floor
    hide a real 10% slowdown; it is left out, and the verdict says so."""
    from twinbench.reports.verdicts import drop_slow_outliers, speed_test

    base = [17.3, 17.05, 22.87, 17.37, 17.28]
    cand = [19.23, 19.1, 19.2, 19.37, 19.11]
    assert drop_slow_outliers(base) == ([17.05, 17.28, 17.3, 17.37], 1)
    assert drop_slow_outliers([1.0, 1.0, 1.01, 0.5, 1.0])[1] == 0  # fast values are never dropped
    t = speed_test(base, cand, min_effect=0.05, alpha=0.01)
    assert t.verdict == "REGRESSION" and "slow outlier processes left out: baseline 1, candidate 0" in t.reason
    # at most a third of a side goes, so a bimodal side stays noisy (INCONCLUSIVE), never quietly split
    assert drop_slow_outliers([1.0, 1.0, 1.0, 1.5, 1.5, 1.5])[1] <= 2


# several kinds of machine ---------------------------------------------------------------------------

def test_a_two_machine_run_is_not_pooled_against_a_one_machine_baseline(tmp_path: Path) -> None:
    """A run spread over two kinds of machine (Ray `machines`) against a baseline from one machine:
    no cell has a like on the other side, so compare refuses with one line instead of pooling."""
    base = make_run(tmp_path / "a", "base", seed=1)
    cand = make_run(tmp_path / "b", "cand", seed=2, machines=("hw:a", "hw:b"), machine_slowdown={"hw:b": 3.0})
    with pytest.raises(ConfigError, match="different kinds of machine .*hw:a, hw:b.*twinbench hardware"):
        compare_runs(base, cand)
    proc = subprocess.run([sys.executable, "-m", "twinbench", "compare", str(base), str(cand)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_two_multi_machine_runs_compare_machine_by_machine(tmp_path: Path) -> None:
    """Both runs on the same two kinds of machine, one kind 3x slower in the candidate: its cells are
    REGRESSION, the other kind's are not, and every verdict row names its machine."""
    base = make_run(tmp_path / "a", "base", seed=1, machines=("hw:a", "hw:b"))
    cand = make_run(tmp_path / "b", "cand", seed=2, machines=("hw:a", "hw:b"), machine_slowdown={"hw:b": 3.0})
    df = compare_runs(base, cand)
    speed = df[df["kind"] == "speed"]
    assert set(speed["machine"]) == {"hw:a", "hw:b"}
    ort = speed[speed["runtime"] == "ort-cpu"]
    assert (ort[ort["machine"] == "hw:b"]["verdict"] == "REGRESSION").all()
    assert not (ort[ort["machine"] == "hw:a"]["verdict"] == "REGRESSION").any()
    assert not (speed[speed["runtime"] != "ort-cpu"]["verdict"] == "REGRESSION").any()
