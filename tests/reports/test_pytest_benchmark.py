"""The pytest plugin (`twinbench_cell`) in a real pytest-benchmark run, and its JSON as a run dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from twinbench.core.errors import RunDirError
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
    # not a twinbench cell: no twin, runtime, device or shape is claimed; its own name is kept
    assert row["artifact"] == "t.py::test_sort" and row["benchmark"] == "test_sort" and row["p50_ms"] == pytest.approx(1.4)
    assert row["twin"] == row["runtime"] == row["device"] == row["precision"] == ""
    assert all(pd_isna(row[k]) for k in ("batch", "seq_len", "threads"))
    assert row["throughput_sps"] == pytest.approx(1 / 0.0014)  # calls per second at the median
    df = compare_runs(run.path, run.path)
    assert (df["verdict"] == "INCONCLUSIVE").all()


def pd_isna(v: object) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_plain_benchmarks_are_shown_by_their_own_names(tmp_path: Path) -> None:
    """compare and the report show group, name and params, not twin `pytest` / runtime `python` /
    seq_len 0, and the evidence line speaks of pytest sessions, not worker processes."""
    from twinbench.reports.compare import compare_markdown

    def doc(median: float) -> dict:
        benches = [{"group": "sorting", "name": f"test_sort[{n}]", "fullname": f"t.py::test_sort[{n}]",
                    "params": {"n": n}, "param": str(n), "extra_info": {}, "options": {},
                    "stats": {"min": median * 0.9, "max": median * 1.5, "mean": median * 1.1, "stddev": median / 10,
                              "median": median * n, "rounds": 50, "total": median * 55}} for n in (10, 100)]
        return {"machine_info": {"node": "h", "cpu": {"brand_raw": "Some CPU", "count": 4}, "system": "Linux",
                                 "machine": "x86_64", "python_version": "3.11.7"},
                "commit_info": {"id": "abc"}, "datetime": "2026-11-23T14:00:00", "version": "5.1.0",
                "benchmarks": benches}

    (tmp_path / "a.json").write_text(json.dumps(doc(0.001)))
    (tmp_path / "b.json").write_text(json.dumps(doc(0.002)))
    text = compare_markdown(compare_runs(tmp_path / "a.json", tmp_path / "b.json"))
    assert "| group | benchmark | params |" in text and "test_sort[100]" in text and "n=100" in text
    assert "sorting" in text and "pytest session" in text
    assert "worker process" not in text and "python" not in text and "| pytest |" not in text
    md, _ = build_reports(tmp_path / "a.json")
    report = md.read_text()
    speed = report.split("## Speed")[1].split("## Machine")[0]
    assert "test_sort[10]" in speed and "n=10" in speed and "group sorting" in speed
    assert "| python |" not in speed and "seq_len" not in speed
    assert "no calibration cell" in report


def _session(path: Path, medians_ms: dict[str, float], *, when: str, commit: str = "c0ffee", seed: int = 0) -> Path:
    """A saved pytest-benchmark session with per-round data (`--benchmark-save-data`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    benches = []
    for name, med in medians_ms.items():
        data = (med / 1e3 * (1 + 0.002 * rng.standard_normal(40))).tolist()
        benches.append({"group": "tiny", "name": name, "fullname": f"t.py::{name}", "options": {},
                        "extra_info": {"twinbench_runtime": "ort-cpu", "twinbench_artifact": name},
                        "stats": {"data": data, "min": min(data), "max": max(data), "mean": sum(data) / 40,
                                  "stddev": 0.0, "median": sorted(data)[20], "rounds": 40, "total": sum(data)}})
    doc = {"machine_info": {"node": "h", "cpu": {"brand_raw": "Some CPU", "count": 4}, "system": "Linux",
                            "machine": "x86_64", "python_version": "3.11.7"},
           "commit_info": {"id": commit, "dirty": False}, "datetime": when, "version": "5.1.0", "benchmarks": benches}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_sessions_are_processes_and_folders_give_verdicts(tmp_path: Path) -> None:
    """One JSON file = one pytest session = one process: INCONCLUSIVE with the reason. A folder of
    three sessions per side gives real verdicts; an older commit's sessions in the folder are left out."""
    base, cand = tmp_path / "base" / ".benchmarks" / "Linux-CPython-3.11-64bit", tmp_path / "cand"
    _session(base / "0000_old.json", {"fast": 5.0, "slow": 5.0}, when="2026-11-01T10:00:00", commit="old")
    for i, jitter in enumerate((1.0, 1.003, 0.997)):
        _session(base / f"000{i + 1}_base.json", {"fast": 1.0 * jitter, "slow": 1.0 * jitter},
                 when=f"2026-11-23T10:0{i}:00", seed=i)
        _session(cand / f"000{i + 1}_cand.json", {"fast": 1.0 * jitter, "slow": 1.3 * jitter},
                 when=f"2026-11-23T11:0{i}:00", seed=10 + i)
    one = compare_runs(base / "0001_base.json", cand / "0001_cand.json")
    assert (one["verdict"] == "INCONCLUSIVE").all() and one["note"].str.contains("too few valid processes").all()
    df = compare_runs(tmp_path / "base" / ".benchmarks", cand).set_index("artifact")
    assert df.loc["slow", "verdict"] == "REGRESSION" and df.loc["fast", "verdict"] in ("SAME", "INCONCLUSIVE")
    assert df.loc["fast", "verdict"] != "REGRESSION" and df.loc["slow", "n_base"] == 3
    run = load_run(tmp_path / "base" / ".benchmarks.twinbench")
    assert len(run.manifest.config["sessions"]) == 3  # the old commit's session is not a process
    assert run.results.set_index("artifact").loc["fast", "repeats"] == 3
    md, _ = build_reports(cand)  # `twinbench report FOLDER`
    assert md.parent == tmp_path / "cand.twinbench"


def test_fixture_reads_the_sidecar(tmp_path: Path) -> None:
    """Without vocab_size=, the sidecar's vocabulary decides the token ids (the crash of issue 16:
    ids beyond a 56-word table), and its twin/exporter names label the cell."""
    from twinbench.bench.pytest_plugin import model_facts
    from twinbench.exporters.artifact import Artifact

    model = tiny_onnx(tmp_path / "artifacts" / "lstm" / "torch-dynamo.onnx", vocab=7)
    assert model_facts(model).vocab_size == 7  # no sidecar: the embedding table's rows
    Artifact(name="torch-dynamo", kind="onnx", path="artifacts/lstm/torch-dynamo.onnx", twin="lstm",
             source="torch", exporter="torch-dynamo", twin_config={"vocab_size": 5},
             meta={"inputs": [{"name": "tokens", "dtype": "int64", "shape": ["batch", "seq"]}]}).write_sidecar(tmp_path)
    facts = model_facts(model)
    assert (facts.vocab_size, facts.twin, facts.exporter, facts.fixed_seq_len) == (5, "lstm", "torch-dynamo", None)
