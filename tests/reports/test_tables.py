"""load_run / write_table: good run directories load, bad ones give one-line RunDirErrors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinbench.core.schema import PARITY_COLUMNS, RESULTS_COLUMNS, SCHEMA_VERSION, TRAINING_COLUMNS
from twinbench.core.errors import RunDirError
from twinbench.core.tables import write_table
from twinbench.reports.tables import load_run


def test_load_run_reads_everything(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert run.run_id == run_dir.name
    assert list(run.results.columns[: len(RESULTS_COLUMNS)]) == RESULTS_COLUMNS
    assert list(run.parity.columns[: len(PARITY_COLUMNS)]) == PARITY_COLUMNS
    assert list(run.training.columns[: len(TRAINING_COLUMNS)]) == TRAINING_COLUMNS
    ok = run.results[run.results["status"] == "ok"]
    row = ok.iloc[0]
    ns = run.samples(row)
    assert ns.dtype == np.int64 and len(ns) == int(row["iterations"])
    assert np.median(ns) / 1e6 == pytest.approx(row["p50_ms"])
    failed = run.results[run.results["status"] == "failed"].iloc[0]
    assert run.samples(failed).size == 0


def _mutate_manifest(run_dir: Path, **changes: object) -> None:
    path = run_dir / "manifest.json"
    m = json.loads(path.read_text())
    m.update(changes)
    path.write_text(json.dumps(m))


@pytest.mark.parametrize("case, match", [
    ("missing_dir", "not found"),
    ("no_manifest", "manifest.json: missing"),
    ("corrupt_manifest", "corrupt JSON"),
    ("running", "status is 'running'"),
    ("schema", "schema_version 999"),
    ("corrupt_table", "unreadable table"),
    ("no_results", "results.parquet / results.csv missing"),
    ("bad_samples", "unreadable samples file"),
])
def test_bad_run_dirs_raise_one_line(run_dir: Path, tmp_path: Path, case: str, match: str) -> None:
    target = run_dir
    if case == "missing_dir":
        target = tmp_path / "nope"
    elif case == "no_manifest":
        (run_dir / "manifest.json").unlink()
    elif case == "corrupt_manifest":
        (run_dir / "manifest.json").write_text("{not json")
    elif case == "running":
        _mutate_manifest(run_dir, status="running")
    elif case == "schema":
        _mutate_manifest(run_dir, schema_version=999)
    elif case == "corrupt_table":
        (run_dir / "results.parquet").write_bytes(b"PAR1 garbage")
    elif case == "no_results":
        (run_dir / "results.parquet").unlink()
        (run_dir / "results.csv").unlink()
    elif case == "bad_samples":
        for f in (run_dir / "cells").glob("*.npy"):
            f.write_bytes(b"nonsense")
    with pytest.raises(RunDirError, match=match) as info:
        run = load_run(target)
        run.samples(run.results[run.results["status"] == "ok"].iloc[0])
    assert "\n" not in str(info.value)


def test_write_table_atomic_and_normalized(tmp_path: Path) -> None:
    df = pd.DataFrame([{"twin": "lstm", "runtime_settings": {"a": 1}, "error": None, "extra": 1},
                       {"twin": "mlp", "runtime_settings": "{}", "error": "x | y", "extra": 2}])
    csv, pq = write_table(df, tmp_path, "results")
    assert csv.is_file() and pq.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    back = pd.read_parquet(pq)
    assert list(back.columns) == RESULTS_COLUMNS + ["extra"]
    assert json.loads(back["runtime_settings"][0]) == {"a": 1}
    # empty tables still carry the schema columns
    write_table(pd.DataFrame(), tmp_path, "parity")
    assert list(pd.read_parquet(tmp_path / "parity.parquet").columns) == PARITY_COLUMNS


def test_csv_only_run_dir_loads(run_dir: Path) -> None:
    for name in ("results", "parity", "training"):
        (run_dir / f"{name}.parquet").unlink()
    run = load_run(run_dir)
    assert len(run.results) and len(run.parity) and len(run.training)
    assert SCHEMA_VERSION == run.manifest.schema_version


def test_integer_keys_survive_missing_values(tmp_path: Path) -> None:
    df = pd.DataFrame([{"twin": "lstm", "batch": 8, "seq_len": 16}, {"twin": "lstm", "status": "failed"}])
    write_table(df, tmp_path, "results")
    from twinbench.core.tables import read_table

    assert str(pd.read_parquet(tmp_path / "results.parquet")["batch"].iloc[0]) == "8"
    (tmp_path / "results.parquet").unlink()
    assert str(read_table(tmp_path, "results")["batch"].iloc[0]) == "8"  # from the CSV
