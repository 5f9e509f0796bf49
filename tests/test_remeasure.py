"""`twinbench bench` and `twinbench compare` through the CLI, as CI drives them: separate
invocations, real worker processes, a real injected slowdown (the `test_delay_ns` setting)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _tb(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _run_dir(proc: subprocess.CompletedProcess) -> Path:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return Path(proc.stdout.split("report: ")[1].split()[0]).parent


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    cfg = out / "tiny.toml"
    cfg.write_text('runtimes = ["ort-cpu"]\nexporters = ["torch-script"]\nbatches = [1]\n'
                   '[training]\nepochs = 1\n'
                   '[timing]\nwarmup_iters = 20\nmin_iters = 50\nmin_s = 0.2\nmax_s = 2.0\nrepeats = 3\n')
    return _run_dir(_tb("run", str(cfg), "--out", str(out)))


def test_bench_remeasures_into_a_new_run_directory(source: Path, tmp_path: Path) -> None:
    new = _run_dir(_tb("bench", str(source), "--out", str(tmp_path), "--repeats", "4"))
    manifest = json.loads((new / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["source_run"] == str(source.resolve())
    assert manifest["parity_verdict"] == "PASS" and "build_s" not in manifest["timings"]  # nothing trained
    res = pd.read_parquet(new / "results.parquet")
    timed = res[res.status.isin(["ok", "invalid"])]
    assert set(timed.artifact) == {"torch-script", "calibration-add"} and (timed.repeats == 4).all()
    assert len(pd.read_parquet(new / "repeats.parquet")) == 4 * len(timed)
    rounds = pd.read_parquet(new / "rounds.parquet")
    assert (rounds.probe_py_us > 0).all() and rounds.fast.any()


def test_bench_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    proc = _tb("bench", str(tmp_path))
    assert proc.returncode == 2 and "not a run directory" in proc.stderr and "Traceback" not in proc.stderr


def test_a_real_slowdown_is_a_regression_and_a_rerun_is_not(source: Path, tmp_path: Path) -> None:
    res = pd.read_parquet(source / "results.parquet")
    p50_ns = float(res[res.artifact == "torch-script"].p50_ms.iloc[0]) * 1e6
    slow_cfg = tmp_path / "slow.toml"
    slow_cfg.write_text(f'[runtime_settings.ort-cpu]\ntest_delay_ns = {int(p50_ns)}\n')  # +100%
    base = _run_dir(_tb("bench", str(source), "--out", str(tmp_path / "a"), "--repeats", "4"))
    again = _run_dir(_tb("bench", str(source), "--out", str(tmp_path / "b"), "--repeats", "4"))
    slow = _run_dir(_tb("bench", str(source), "--out", str(tmp_path / "c"), "--repeats", "4",
                        "--config", str(slow_cfg)))
    aa = _tb("compare", str(base), str(again))
    assert aa.returncode == 0 and "| REGRESSION |" not in aa.stdout, aa.stdout
    ab = _tb("compare", str(base), str(slow))
    assert ab.returncode == 1, ab.stdout + ab.stderr
    line = next(ln for ln in ab.stdout.splitlines() if "| torch-script | ort-cpu" in ln and "REGRESSION" in ln)
    assert "test_delay_ns" in (slow / "results.csv").read_text() and line


def test_compare_remeasure_interleaves_both_runs(source: Path, tmp_path: Path) -> None:
    proc = _tb("compare", str(source), str(source), "--remeasure", "--repeats", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "interleaved re-measurement" in proc.stdout and "| REGRESSION |" not in proc.stdout
    assert _tb("compare", str(source), str(source), "--repeats", "3").returncode == 2
