"""benchmarks/ab_regression.py runs end to end (one short try; the 20/20 figures are its own job)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ab_regression.py"


@pytest.mark.slow
def test_ab_regression_smoke() -> None:
    res = subprocess.run([sys.executable, str(SCRIPT), "--tries", "1", "--rounds", "4"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode in (0, 1), res.stderr[-2000:]
    assert "A/A (run vs rerun): " in res.stdout and "A/B (+10% slower candidate): " in res.stdout
