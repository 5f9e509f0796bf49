"""Fuzz: run directories that travelled. A small real run (made once per session, conftest.py) is
copied and broken, then driven through the real CLI:

- manifests: any field set to a value of another type, removed, or joined by an unknown one;
- tables: a column dropped, added, retyped or given odd values (NaN, infinities, negatives, text,
  huge numbers), rows duplicated or emptied, a file truncated; as CSV or as Parquet.

Commands: `report`, `compare` (both ways against the intact run), `hardware`, `export`, `parity`,
`bench --fast -r ort-cpu` and `run --resume`. Each must reach a verdict or refuse the input in one
line with exit 2; never exit 3, never a traceback. Workers make `parity`, `bench` and `--resume`
costly, so they are drawn less often."""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzlib import CASES, NASTY_NUMBERS, NASTY_TEXT, cli, finite, fuzz_settings, junk, mutate, paths

pytestmark = pytest.mark.slow

#: Commands and the exit codes that are verdicts for them (2: the input refused in one line).
CHEAP = ["report", "compare-base-first", "compare-copy-first", "hardware", "export"]
COSTLY = ["parity", "bench", "resume"]
commands = st.one_of(st.sampled_from(CHEAP), st.sampled_from(CHEAP), st.sampled_from(COSTLY))


def _drive(work: Path, base: Path, run: Path, command: str) -> None:
    if command == "report":
        cli(work, "report", str(run), allowed=(0, 2))
    elif command == "compare-base-first":
        cli(work, "compare", str(base), str(run), allowed=(0, 1, 2))
    elif command == "compare-copy-first":
        cli(work, "compare", str(run), str(base), "--json", allowed=(0, 1, 2))
    elif command == "hardware":
        cli(work, "hardware", str(base), str(run), allowed=(0, 2))
    elif command == "export":
        cli(work, "export", str(run), "--format", "bencher", allowed=(0, 2))
    elif command == "parity":
        cli(work, "parity", str(run), "-r", "ort-cpu", allowed=(0, 1, 2))
    elif command == "bench":
        cli(work, "bench", str(run), "--fast", "-r", "ort-cpu", "--out", str(work / "again"), allowed=(0, 1, 2, 4))
    elif command == "resume":
        cli(work, "run", "--resume", str(run), allowed=(0, 1, 2, 4))


@contextmanager
def _received(base: Path, kind: str, command: str) -> Iterator[Path]:
    """A copy of the base run for the body to break (for `--resume`, one whose driver died, so it goes
    on with it instead of refusing at once); then the case is counted and `command` driven on it."""
    with tempfile.TemporaryDirectory(prefix=f"tb-fuzz-{kind}-") as tmp:
        work = Path(tmp)
        run = work / "received"
        shutil.copytree(base, run, ignore=shutil.ignore_patterns("judged"))
        if command == "resume":
            m = json.loads((run / "manifest.json").read_text())
            m.update(status="interrupted", driver={"pid": 2**22 + 7, "host": "gone", "started": "2020-01-01"})
            (run / "manifest.json").write_text(json.dumps(m))
        yield run
        CASES[kind] += 1
        _drive(work, base, run, command)


# manifests -------------------------------------------------------------------------------------------

@fuzz_settings(12)
@given(data=st.data(), command=commands)
def test_a_broken_manifest_reaches_a_verdict_or_one_line(base_run: Path, data: st.DataObject, command: str) -> None:
    with _received(base_run, "manifest", command) as run:
        manifest = json.loads((run / "manifest.json").read_text())
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            where = data.draw(st.sampled_from(paths(manifest)), label="path")
            how = data.draw(st.sampled_from(["set", "set", "delete", "add"]), label="how")
            manifest = mutate(manifest, where, how, finite(data.draw(junk, label="value")))
        (run / "manifest.json").write_text(json.dumps(manifest))


# tables ----------------------------------------------------------------------------------------------

TABLES = ["results", "repeats", "rounds", "parity", "training", "params"]
odd = st.one_of(st.sampled_from(NASTY_NUMBERS), st.sampled_from(NASTY_TEXT), st.none(), st.booleans())


def _break_table(run: Path, data: st.DataObject) -> None:
    import pandas as pd

    name = data.draw(st.sampled_from(TABLES), label="table")
    parquet, csv = run / f"{name}.parquet", run / f"{name}.csv"
    how = data.draw(st.sampled_from(["value", "value", "column-type", "drop-column", "add-column", "duplicate",
                                     "empty", "header-only", "truncate", "not-a-table"]), label="how")
    current = parquet if parquet.is_file() else csv
    if how == "truncate":
        raw = current.read_bytes()
        current.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")])
        return
    if how == "not-a-table":
        parquet.unlink(missing_ok=True)
        csv.write_bytes(data.draw(st.binary(max_size=200), label="bytes"))
        return
    try:  # a table an earlier change already broke stays as it is
        df = pd.read_parquet(parquet) if parquet.is_file() else pd.read_csv(csv)
    except Exception:
        return
    columns = list(df.columns)
    if how == "empty":
        df = df.iloc[0:0]
    elif how == "header-only":
        parquet.unlink(missing_ok=True)
        csv.write_text(",".join(columns) + "\n")
        return
    elif how == "duplicate":
        df = pd.concat([df, df], ignore_index=True)
    elif how == "drop-column" and columns:
        df = df.drop(columns=[data.draw(st.sampled_from(columns), label="column")])
    elif how == "add-column":
        df[data.draw(st.sampled_from(["extra", "p50_ms", "status", ""]), label="column")] = \
            data.draw(odd, label="value")
    elif how == "column-type" and columns:
        column = data.draw(st.sampled_from(columns), label="column")
        df[column] = df[column].astype(str) + data.draw(st.sampled_from(["", "x", "[/x]"]), label="suffix")
    elif how == "value" and columns and len(df):
        column = data.draw(st.sampled_from(columns), label="column")
        row = data.draw(st.integers(0, len(df) - 1), label="row")
        df[column] = df[column].astype(object)
        df.at[row, column] = data.draw(odd, label="value")
    if data.draw(st.booleans(), label="as-csv"):
        parquet.unlink(missing_ok=True)
        df.to_csv(csv, index=False)
    else:
        try:
            df.to_parquet(parquet, index=False)
        except Exception:  # pyarrow will not store a mixed column: write it as text instead
            df.astype(str).to_parquet(parquet, index=False)


@fuzz_settings(16)
@given(data=st.data(), command=commands)
def test_a_broken_table_reaches_a_verdict_or_one_line(base_run: Path, data: st.DataObject, command: str) -> None:
    with _received(base_run, "table", command) as run:
        for _ in range(data.draw(st.integers(1, 2), label="changes")):
            _break_table(run, data)


@fuzz_settings(6)
@given(data=st.data(), command=st.sampled_from(CHEAP))
def test_broken_samples_files_reach_a_verdict_or_one_line(base_run: Path, data: st.DataObject, command: str) -> None:
    """The per-call samples (`cells/*.npy`) a report reads: floats, NaN, negatives, junk bytes, gone."""
    import numpy as np

    with _received(base_run, "samples", command) as run:
        files = sorted(p for p in (run / "cells").glob("*.npy") if not p.name.endswith(".rounds.npy"))
        target = data.draw(st.sampled_from(files), label="file")
        how = data.draw(st.sampled_from(["float-nan", "negative", "bytes", "gone", "2d", "empty"]), label="how")
        if how == "float-nan":
            np.save(target, np.array([1.0, np.nan, 3.0]))
        elif how == "negative":
            np.save(target, np.array([-5, 10], dtype=np.int64))
        elif how == "bytes":
            target.write_bytes(data.draw(st.binary(max_size=100), label="bytes"))
        elif how == "gone":
            target.unlink()
        elif how == "2d":
            np.save(target, np.ones((3, 2), dtype=np.int64))
        else:
            np.save(target, np.zeros(0, dtype=np.int64))
