"""hardware_table across machines, and the history store's record / query round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinbench.errors import ConfigError, RunDirError
from twinbench.reports.hardware import hardware_markdown, hardware_table
from twinbench.reports.history import history, history_markdown, record

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


def test_history_record_and_query(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = make_run(runs, "20261120-100000-aaaaaa", seed=1)
    second = make_run(runs, "20261121-100000-bbbbbb", seed=2, slowdown=1.2)
    for i, d in enumerate((first, second)):
        m = json.loads((d / "manifest.json").read_text())
        m["created"] = f"2026-11-2{i}T10:00:00+00:00"
        (d / "manifest.json").write_text(json.dumps(m))
    store = record(second)
    assert store == runs / "history.parquet"
    record(first)
    record(first)  # idempotent: replaces, does not duplicate
    df = history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo")
    assert list(df["run_id"].unique()) == [first.name, second.name]
    assert len(df) == 2 * 6
    one = history({"twin": "lstm", "runtime": "ort-cpu", "artifact": "torch-dynamo", "batch": 8, "seq_len": 64},
                  store=store)
    assert len(one) == 2 and one["p50_ms"].iloc[1] > one["p50_ms"].iloc[0]
    md = history_markdown(one)
    assert "+2" in md and assert_valid_tables(md) == 1
    with pytest.raises(ConfigError, match="unknown column"):
        history(store=store, colour="red")
    with pytest.raises(RunDirError, match="no history store"):
        history(store=tmp_path / "none.parquet")
