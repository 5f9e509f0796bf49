"""The CLI as a user meets it: a real subprocess, one-line errors, distinct exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def twinbench(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    err = [line for line in proc.stderr.splitlines() if line.startswith("twinbench: error:")]
    assert len(err) == 1 and needle in err[0], proc.stderr


def test_help_is_fast_and_imports_no_framework() -> None:
    t0 = time.perf_counter()
    proc = twinbench("--help")
    assert proc.returncode == 0 and "run" in proc.stdout
    code = ("import sys, twinbench.cli; heavy = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'openvino', "
            "'pandas') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("args, needle", [
    (["run", "--twin", "nope"], "unknown twin 'nope'"),
    (["run", "--runtime", "nope"], "unknown runtime 'nope'"),
    (["run", "--batch", "0"], "batches"),
    (["run", "/no/such/config.toml"], "does not exist"),
    (["report", "/no/such/run"], ""),
    (["compare", "/no/such/a", "/no/such/b"], ""),
])
def test_bad_input_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = twinbench(*args, "--out", str(tmp_path)) if args[0] == "run" else twinbench(*args)
    assert_one_line_error(proc, 2, needle)
    assert not list(tmp_path.glob("*")), "bad input must not leave a run directory behind"


def test_unreadable_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[[[ not toml")
    assert_one_line_error(twinbench("run", str(cfg)), 2, "not valid")


def test_bad_usage_exit_2() -> None:
    proc = twinbench("run", "--batch", "abc")
    assert proc.returncode == 2


def test_list_shows_twins_and_runtimes() -> None:
    proc = twinbench("list")
    assert proc.returncode == 0, proc.stderr
    for word in ("lstm", "torch-dynamo", "ort-cpu", "openvino"):
        assert word in proc.stdout
