"""Every command that takes a run directory reads its manifest through the one typed reader
(core/manifest.py `read_manifest`): a missing or wrong-typed field, or another schema version, is
one line naming the file and the field, exit 2 — from report, compare, hardware, parity, bench and
run --resume alike, never an internal error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from twinbench.config import load_config
from twinbench.core.manifest import create_run_dir, read_manifest, update_manifest
from twinbench.core.schema import RESULTS_COLUMNS
from twinbench.core.tables import write_table


def _run_dir(root: Path, name: str) -> Path:
    """A small complete run directory: two timed cells, no artifacts."""
    run_dir, manifest = create_run_dir(root, load_config(None, {"runtimes": ("ort-cpu",)}).to_dict(), name)
    rows = [{"twin": "t", "artifact": "a", "exporter": "e", "source": "torch", "precision": "fp32",
             "runtime": "ort-cpu", "device": "cpu", "batch": b, "seq_len": 16, "threads": 1, "status": "ok",
             "error": "", "p50_ms": 0.1 * b, "run_id": name} for b in (1, 8)]
    write_table(pd.DataFrame(rows).reindex(columns=RESULTS_COLUMNS), run_dir, "results")
    update_manifest(run_dir, manifest, status="complete", parity_verdict="SKIP")
    return run_dir


#: (what to break, how, the field the error line must name)
BREAKS = {
    "gpu a string": (lambda m: m["machine"].update(gpu="RTX"), "machine.gpu"),
    "cores a word": (lambda m: m["machine"].update(cpu_cores="two"), "machine.cpu_cores"),
    "seq_lens not integers": (lambda m: m["config"].update(seq_lens=["a", "b"]), "seq_lens"),
    "timings text": (lambda m: m.update(timings={"total_s": "slow"}), "timings.total_s"),
    "status a number": (lambda m: m.update(status=3), "status"),
    "run_id missing": (lambda m: m.pop("run_id"), "run_id"),
    "another schema": (lambda m: m.update(schema_version=99), "schema_version"),
    "versions a list": (lambda m: m.update(versions=["torch"]), "versions"),
}
COMMANDS = {
    "report": lambda run, other: ["report", str(run)],
    "compare": lambda run, other: ["compare", str(other), str(run)],
    "hardware": lambda run, other: ["hardware", str(other), str(run)],
    "parity": lambda run, other: ["parity", str(run), "-q"],
    "bench": lambda run, other: ["bench", str(run), "--fast", "-q"],
    "run --resume": lambda run, other: ["run", "--resume", str(run), "-q"],
}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_dir(tmp_path_factory.mktemp("good"), "good")


def _broken(root: Path, how: Any, resumable: bool) -> Path:
    run = _run_dir(root, "broken")
    path = run / "manifest.json"
    m = json.loads(path.read_text())
    if resumable:
        m["status"] = "interrupted"
    how(m)
    path.write_text(json.dumps(m))
    return run


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name", list(BREAKS))
def test_a_bad_manifest_field_is_one_line_and_exit_2(tmp_path: Path, good: Path, command: str, name: str) -> None:
    how, field = BREAKS[name]
    run = _broken(tmp_path, how, resumable=command == "run --resume" and name != "status a number")
    proc = subprocess.run([sys.executable, "-m", "twinbench", *COMMANDS[command](run, good)], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and "internal error" not in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert "manifest.json" in lines[0] and field in lines[0], lines[0]


def test_the_reader_gives_typed_fields(good: Path) -> None:
    m = read_manifest(good)
    assert m.run_id == "good" and m.status == "complete" and m.machine.cpu_cores >= 1
    assert isinstance(m.machine.fingerprint, str) and m.machine.fingerprint and m.run_dir == good
