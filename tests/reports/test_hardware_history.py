"""hardware_table across machines, and the history store's record / query round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.hardware import hardware_markdown, hardware_table
from twinbench.reports.history import figures_of, history, record
from twinbench.reports.history_report import history_html, history_markdown
from twinbench.reports.steps import detect_steps

from reportlib import MACHINE, assert_valid_tables, make_run


def test_hardware_table_ratios(tmp_path: Path) -> None:
    a = make_run(tmp_path, "box-a", seed=1)
    b = make_run(tmp_path, "box-b", seed=2, slowdown=2.0,
                 machine=dict(MACHINE, fingerprint="beef", cpu_model="AMD EPYC 9654", cpu_cores=8))
    df = hardware_table([a, b], baseline=0)
    assert (df["m0 vs base"] == 1.0).all()
    ort = df[df["runtime"] == "ort-cpu"]["m1 vs base"]
    assert ort.between(1.85, 2.15).all()
    md = hardware_markdown(df)
    assert "AMD EPYC 9654" in md and "beef" in md and "m0 (baseline)" in md
    assert assert_valid_tables(md) == 2
    assert len(hardware_table([a, b], baseline=1)) == len(df)


def test_hardware_bad_input(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a")
    with pytest.raises(ConfigError, match="baseline"):
        hardware_table([a], baseline=3)
    with pytest.raises(RunDirError, match="not found"):
        hardware_table([a, tmp_path / "nope"])
    with pytest.raises(RunDirError, match="no cells in common"):
        hardware_table([a, make_run(tmp_path, "g", twins=("gru",))])


def _dated(d: Path, day: int, commit: str, **extra: object) -> Path:
    m = json.loads((d / "manifest.json").read_text())
    m.update(created=f"2026-11-{day:02d}T10:00:00+00:00", git_commit=commit, **extra)
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_history_record_and_query(tmp_path: Path) -> None:
    runs, store = tmp_path / "runs", tmp_path / "h" / "history.sqlite"
    first = _dated(make_run(runs, "20261120-100000-aaaaaa", seed=1), 20, "a" * 40, git_dirty=False)
    second = _dated(make_run(runs, "20261121-100000-bbbbbb", seed=2, slowdown=1.2), 21, "b" * 40, git_dirty=True)
    assert record(second, store) == store
    record(first, store)
    record(first, store)  # idempotent: replaces, does not duplicate
    df = history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo")
    assert list(df["run_id"].unique()) == [first.name, second.name]
    assert len(df) == 2 * 6
    one = history({"twin": "lstm", "runtime": "ort-cpu", "artifact": "torch-dynamo", "batch": 8, "seq_len": 64},
                  store=store)
    assert len(one) == 2 and one["p50_ms"].iloc[1] > one["p50_ms"].iloc[0]
    assert one["git_dirty"].tolist() == [0.0, 1.0] and one["config_hash"].nunique() == 1
    assert len(figures_of(one.iloc[0])) == 5  # the per-process figures travel with the row
    assert len(history(store=store, machine=MACHINE["fingerprint"][:4], batch=8)) > 0
    assert len(history(store=store, machine="no-such-machine")) == 0
    md = history_markdown(one)
    assert "+2" in md and "+dirty" in md and assert_valid_tables(md) >= 2
    with pytest.raises(ConfigError, match="unknown column"):
        history(store=store, colour="red")
    with pytest.raises(RunDirError, match="no history store"):
        history(store=tmp_path / "none.sqlite")


def test_history_step_marks_the_slow_run(tmp_path: Path) -> None:
    """Normal, normal, 25% slower, slower: the step is at the third point, and only there."""
    runs, store = tmp_path / "runs", tmp_path / "history.sqlite"
    for i, slow in enumerate((1.0, 1.0, 1.25, 1.25)):
        record(_dated(make_run(runs, f"2026112{i}-100000-00000{i}", seed=i, slowdown=slow), 20 + i, f"{i}" * 40),
               store)
    df = history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo", batch=1, seq_len=16)
    assert len(df) == 4
    steps = detect_steps(df)
    assert [(s.index, s.verdict) for s in steps] == [(2, "REGRESSION")]
    assert steps[0].commits == "11111111..22222222" and 1.15 < steps[0].ratio < 1.35
    html = history_html(df)
    assert html.count("data:image/png;base64,") == 1 and "STEP REGRESSION" in html and "http" not in html
    # same cell on other runtimes: no step
    assert not detect_steps(history(store=store, twin="lstm", runtime="openvino", artifact="torch-dynamo",
                                    batch=1, seq_len=16))


def test_history_cli_three_points_and_html(tmp_path: Path) -> None:
    """The issue's done-when, on recorded runs: three points for lstm/ort-cpu/batch 1, the HTML page."""
    from typer.testing import CliRunner

    from twinbench.cli import app

    runs, store, page = tmp_path / "runs", tmp_path / "history.sqlite", tmp_path / "trend.html"
    for i, slow in enumerate((1.0, 1.3, 1.0)):
        record(_dated(make_run(runs, f"2026112{i}-100000-00000{i}", seed=i, slowdown=slow), 20 + i, f"{i}" * 40),
               store)
    res = CliRunner().invoke(app, ["history", "--twin", "lstm", "--runtime", "ort-cpu", "--batch", "1",
                                   "--artifact", "torch-dynamo", "--seq-len", "16", "--store", str(store),
                                   "--html", str(page)])
    assert res.exit_code == 0, res.output
    table = res.output.split("## lstm torch-dynamo @ ort-cpu cpu, batch 1, seq_len 16")[1]
    assert sum(line.startswith("| 2026-11-2") for line in table.splitlines()) == 3
    assert "STEP REGRESSION" in table and "STEP IMPROVEMENT" in table  # the slow run in the middle
    assert page.is_file() and page.read_text().count("data:image/png;base64,") == 1
    gate = CliRunner().invoke(app, ["history", "--twin", "lstm", "--store", str(store), "--html", str(page),
                                    "--fail-on-step"])
    assert gate.exit_code == 0  # the latest point went back: no slower step at the end
