"""The fuzz suite's session: one small real run directory made once (the run-directory fuzzers copy
and break it), and, at the end, the number of generated cases per input kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzlib import CASES, env_for
from helpers import small_run_toml

#: The run every run-directory mutation starts from: one twin, one exporter, ORT, two processes per
#: cell (so `compare` reaches verdicts), a few seconds of work.
BASE = 'run_id = "base"\n' + small_run_toml(batches=[1, 2], max_s=0.2, repeats=2)


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fuzz-base")
    (tmp / "base.toml").write_text(BASE)
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", "base.toml"], capture_output=True, text=True,
                          cwd=tmp, env=env_for(tmp), timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "runs" / "base"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    total = sum(CASES.values())
    kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(CASES.items()))
    terminalreporter.write_line(f"fuzz cases per input kind ({total} in all): {kinds}")
    out = os.environ.get("TB_FUZZ_REPORT")
    if out:
        Path(out).write_text(json.dumps(dict(sorted(CASES.items())), indent=2) + "\n")
