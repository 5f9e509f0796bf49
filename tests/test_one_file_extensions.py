"""One file adds a twin, one file adds a runtime, and both go through a real (small) pipeline run:
train, export, worker processes, parity, report. The modules are the ones the discovery tests
write into the package folders; here they are given as files on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "models"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
from test_runtimes import RUNTIME_MODULE  # noqa: E402
from test_twin_discovery import MODULE as TWIN_MODULE  # noqa: E402
from test_twin_discovery import NAME as TWIN_NAME  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_new_twin_and_a_new_runtime_run_through_the_pipeline(tmp_path: Path) -> None:
    twin_file, runtime_file = tmp_path / "my_twin.py", tmp_path / "my_runtime.py"
    twin_file.write_text(TWIN_MODULE, encoding="utf-8")
    runtime_file.write_text(RUNTIME_MODULE, encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "twinbench", "run", "--twin-module", str(twin_file), "--twin-module", str(runtime_file),
         "-t", TWIN_NAME, "-r", "probe-ort-plain", "-r", "ort-cpu", "-e", "torch-script", "-b", "1", "--epochs", "1",
         "--repeats", "1", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "parity: PASS" in proc.stdout
    run_dir = Path(proc.stdout.split("report: ")[1].splitlines()[0].strip()).parent
    res = pd.read_parquet(run_dir / "results.parquet")
    mine = res[(res.twin == TWIN_NAME) & (res.runtime == "probe-ort-plain")]
    assert len(mine) == 1 and mine.status.iloc[0] in ("ok", "invalid") and mine.p50_ms.iloc[0] > 0
    parity = pd.read_parquet(run_dir / "parity.parquet")
    checked = parity[(parity.twin == TWIN_NAME) & (parity.runtime == "probe-ort-plain")]
    assert len(checked) and (checked.verdict == "PASS").all()
