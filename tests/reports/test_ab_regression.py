"""benchmarks/ab_regression.py runs end to end through the CLI (one short try; the 20-pair figures
are its own job, not a unit test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ab_regression.py"


@pytest.mark.slow
def test_ab_regression_smoke() -> None:
    res = subprocess.run([sys.executable, str(SCRIPT), "--tries", "1", "--repeats", "3", "--runtime", "ort-cpu"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    for line in ("A/A: ", "A/B +10%: REGRESSION (exit 1) in ", "achieved slowdown vs A's headline"):
        assert line in res.stdout, res.stdout
