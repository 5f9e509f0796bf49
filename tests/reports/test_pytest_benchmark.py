"""The pytest plugin (`twinbench_cell`) in a real pytest-benchmark run, and its JSON as a run dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from twinbench.errors import RunDirError
from twinbench.reports import build_reports
from twinbench.reports.compare import compare_runs
from twinbench.reports.pytest_benchmark import to_run_dir
from twinbench.reports.tables import load_run

from reportlib import assert_valid_tables, tiny_onnx

PLUGIN = "twinbench.bench.pytest_plugin"

SUITE = '''
import pytest

@pytest.mark.parametrize("batch", [1, 8])
def test_tiny(twinbench_cell, batch):
    run = twinbench_cell(MODEL, batch=batch, seq_len=16, twin="tiny", vocab_size=50)
    assert run.outputs[0].shape == (batch, 2)
'''


def _plugin_args() -> list[str]:
    eps = metadata.entry_points(group="pytest11")
    return [] if any(ep.value == PLUGIN for ep in eps) else ["-p", PLUGIN]


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args(),
           "--benchmark-min-rounds=30", "--benchmark-max-time=0.2", "--benchmark-warmup=off", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_plugin_suite_to_report_and_gate(tmp_path: Path) -> None:
    model = tiny_onnx(tmp_path / "artifacts" / "tiny" / "torch-dynamo.onnx")
    (tmp_path / "test_cells.py").write_text(f"MODEL = {str(model)!r}\n" + SUITE)
    store = f"file://{tmp_path / 'store'}"
    first = _pytest(tmp_path, "--benchmark-json=base.json", "--benchmark-save-data", f"--benchmark-storage={store}",
                    "--benchmark-autosave")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    data = json.loads((tmp_path / "base.json").read_text())
    assert data["benchmarks"][0]["extra_info"]["twinbench_twin"] == "tiny"

    run_dir = to_run_dir(tmp_path / "base.json")
    run = load_run(run_dir)
    res = run.results
    assert sorted(res["batch"].tolist()) == [1, 8]
    assert set(res["runtime"]) == {"ort-cpu"} and set(res["artifact"]) == {"torch-dynamo"}
    assert (res["status"] == "ok").all() and (res["p50_ms"] > 0).all()
    assert len(run.samples(res.iloc[0])) >= 30
    md, html = build_reports(tmp_path / "base.json")  # the CLI's `twinbench report FILE.json` path
    assert md.parent == run_dir and assert_valid_tables(md.read_text()) >= 2
    # the JSON run dir compares against itself: nothing flagged
    gate = compare_runs(run_dir, run_dir)  # one process per cell: no process-level evidence
    assert (gate["verdict"] == "INCONCLUSIVE").all() and gate["note"].str.contains("too few valid processes").all()

    # pytest-benchmark's own gate works with the plugin: a generous threshold passes
    second = _pytest(tmp_path, f"--benchmark-storage={store}", "--benchmark-compare",
                     "--benchmark-compare-fail=median:500%")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    assert "Comparing against benchmarks from" in second.stdout + second.stderr


def test_bad_json(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not found"):
        to_run_dir(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(RunDirError, match="corrupt JSON"):
        to_run_dir(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(RunDirError, match="not a pytest-benchmark JSON"):
        to_run_dir(tmp_path / "other.json")


def test_plain_benchmark_without_samples(tmp_path: Path) -> None:
    doc = {"machine_info": {"node": "h", "cpu": {"brand_raw": "Some CPU", "count": 4}, "system": "Linux",
                            "machine": "x86_64", "python_version": "3.11.7"},
           "commit_info": {"id": "abc"}, "datetime": "2026-11-23T14:00:00", "version": "5.1.0",
           "benchmarks": [{"group": None, "name": "test_sort", "fullname": "t.py::test_sort", "extra_info": {},
                           "options": {}, "stats": {"min": 0.001, "max": 0.003, "mean": 0.0015, "stddev": 0.0002,
                                                    "median": 0.0014, "rounds": 50, "total": 0.075}}]}
    (tmp_path / "plain.json").write_text(json.dumps(doc))
    run = load_run(to_run_dir(tmp_path / "plain.json"))
    row = run.results.iloc[0]
    assert row["twin"] == "pytest" and row["artifact"] == "test_sort" and row["p50_ms"] == pytest.approx(1.4)
    df = compare_runs(run.path, run.path)
    assert (df["verdict"] == "INCONCLUSIVE").all()
