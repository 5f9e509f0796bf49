"""docs/schema.md says what the tables hold: every column written is documented, every documented
column is written, and the definitions a reader computes with (throughput) hold on real rows.

Fast: the page against the column lists (core/schema.py, bench/parity/table.py). Slow: the page
against the eight tables a real small run writes (training, export, worker processes, LoadGen).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from twinbench.bench.parity.table import CROSS_COLUMNS
from twinbench.core.schema import KEY
from twinbench.reports.tables import TABLES

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "schema.md").read_text()
#: Every table a run directory may hold, with its column list.
COLUMNS = {**TABLES, "parity_cross": CROSS_COLUMNS}


def _sections() -> dict[str, str]:
    """Body of each `## <table> (...)` section of the page, by table name."""
    parts = re.split(r"^## ", DOC, flags=re.M)
    out = {}
    for part in parts[1:]:
        name = part.split(None, 1)[0]
        if name in COLUMNS:
            out[name] = part
    return out


def documented(table: str) -> tuple[set[str], set[str]]:
    """(always written, optional) columns the page lists for `table`: the first cell of each row
    of the section's table; `*key*` stands for the cell key, `*results*` for the results columns."""
    required: set[str] = set()
    optional: set[str] = set()
    rows = [ln for ln in _sections()[table].splitlines() if ln.startswith("| ")]
    for line in rows[2:]:  # header and separator first
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        first, kind = cells[0], cells[1] if len(cells) > 1 else ""
        if first == "*key*":
            names = set(KEY)
        elif first == "*results*":
            names = documented("results")[0]
        else:
            names = set(re.findall(r"`([^`]+)`", first))
        (optional if "*(optional)*" in kind else required).update(names)
    return required, optional


def test_the_page_names_every_table_and_no_count_that_is_wrong() -> None:
    assert set(_sections()) == set(COLUMNS), "a table without a section (or a section without a table)"
    assert "three tables" not in DOC
    intro = DOC.split("## Cell key")[0]
    for name in COLUMNS:
        assert f"`{name}`" in intro, f"the table list at the top misses {name}"


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_documented_columns_are_the_schema_columns(table: str) -> None:
    required, optional = documented(table)
    schema = set(COLUMNS[table])
    assert required - schema == set(), f"{table}: documented but not in the schema: {sorted(required - schema)}"
    assert schema - required == set(), f"{table}: in the schema but not documented: {sorted(schema - required)}"
    assert not optional & schema, f"{table}: marked optional but always written: {sorted(optional & schema)}"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smallest run that writes all eight tables: one twin, one exporter, one runtime, the
    single-stream cells and one Offline scenario through LoadGen."""
    out = tmp_path_factory.mktemp("runs")
    cfg = out / "small.toml"
    cfg.write_text('twins = ["mlp"]\nexporters = ["torch-script"]\nruntimes = ["ort-cpu"]\nbatches = [1]\n'
                   'seq_lens = [8]\nscenarios = ["single-stream", "offline"]\n'
                   '[data]\nsize = 300\nmax_len = 8\n[training]\nepochs = 1\n'
                   '[timing]\nrepeats = 2\nmin_iters = 5\nmin_s = 0.05\nmax_s = 0.3\n'
                   '[load]\nduration_s = 0.3\nstreams = [1]\nmax_batch = [1]\nsamples = 32\nmin_queries = 20\n')
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", str(cfg), "--out", str(out), "--json", "-q"],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    import json

    return Path(json.loads(proc.stdout)["run_dir"])


@pytest.mark.slow
def test_written_tables_match_the_page(real_run: Path) -> None:
    import pandas as pd

    for table in COLUMNS:
        csv, parquet = real_run / f"{table}.csv", real_run / f"{table}.parquet"
        assert csv.is_file() and parquet.is_file(), f"{table}: not written"
        written = list(pd.read_parquet(parquet).columns)
        assert written == list(pd.read_csv(csv, nrows=0).columns), f"{table}: CSV and Parquet columns differ"
        required, optional = documented(table)
        assert set(written) - required - optional == set(), f"{table}: written, not documented: " \
            f"{sorted(set(written) - required - optional)}"
        assert required - set(written) == set(), f"{table}: documented, not written: {sorted(required - set(written))}"


@pytest.mark.slow
def test_documented_definitions_hold_on_real_rows(real_run: Path) -> None:
    """throughput_sps is batch / p50 in results and batch / mean in repeats (as the page says)."""
    import numpy as np

    from twinbench.reports.tables import load_run

    run = load_run(real_run)
    res = run.results[run.results["status"] == "ok"]
    assert len(res) and len(run.load) and len(run.parity) and len(run.training) and len(run.params)
    np.testing.assert_allclose(res["throughput_sps"].astype(float),
                               res["batch"].astype(float) / (res["p50_ms"].astype(float) / 1e3), rtol=1e-9)
    rep = run.repeats[run.repeats["status"] == "ok"]
    np.testing.assert_allclose(rep["throughput_sps"].astype(float),
                               rep["batch"].astype(float) / (rep["mean_ms"].astype(float) / 1e3), rtol=1e-9)
    assert rep["repeats"].isna().all() and rep["headline"].map(lambda v: not v or v != v).all()
