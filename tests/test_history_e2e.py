"""Issue 16's done-when for the history, through the CLI as a user types it: three `twinbench run`s
in a row record themselves; `twinbench history` prints three points and writes the HTML page; a
re-measurement with a real injected slowdown (`test_delay_ns`) in the middle of a sequence is the step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CONFIG = ('twins = ["lstm"]\nruntimes = ["ort-cpu"]\nexporters = ["torch-script"]\nbatches = [1]\n'
          '[training]\nepochs = 1\n'
          '[timing]\nwarmup_iters = 20\nmin_iters = 50\nmin_s = 0.2\nmax_s = 2.0\nrepeats = 3\n')


def _tb(store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TWINBENCH_HISTORY": str(store)}
    proc = subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def _cell_lines(out: str) -> list[str]:
    table = out.split("## lstm torch-script @ ort-cpu cpu, batch 1, seq_len")[1].split("\n## ")[0]
    return [line for line in table.splitlines() if line.startswith("| 20")]


def test_three_runs_then_history_and_a_step(tmp_path: Path) -> None:
    store, runs = tmp_path / "history.sqlite", tmp_path / "runs"
    (tmp_path / "tiny.toml").write_text(CONFIG)
    for _ in range(3):
        _tb(store, "run", str(tmp_path / "tiny.toml"), "--out", str(runs))
    page = tmp_path / "history.html"
    out = _tb(store, "history", "--twin", "lstm", "--runtime", "ort-cpu", "--batch", "1", "--html", str(page)).stdout
    assert len(_cell_lines(out)) == 3 and page.read_text().count("data:image/png;base64,") >= 1

    first = sorted(runs.iterdir())[0]
    res = pd.read_parquet(first / "results.parquet")
    p50_ns = float(res[res.artifact == "torch-script"].p50_ms.iloc[0]) * 1e6
    (tmp_path / "slow.toml").write_text(f"[runtime_settings.ort-cpu]\ntest_delay_ns = {int(p50_ns)}\n")  # ~2x
    _tb(store, "bench", str(first), "--config", str(tmp_path / "slow.toml"), "--out", str(runs))
    _tb(store, "bench", str(first), "--out", str(runs))
    out = _tb(store, "history", "--twin", "lstm", "--runtime", "ort-cpu", "--batch", "1", "--html", str(page)).stdout
    lines = _cell_lines(out)
    assert len(lines) == 5
    assert "STEP REGRESSION" in lines[3] and not any("STEP REGRESSION" in line for line in lines[:3])
    assert "STEP REGRESSION" in page.read_text()
