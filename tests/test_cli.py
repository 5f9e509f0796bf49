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


def _vec(tmp_path: Path, lines: list[str], dim: int = 4) -> Path:
    path = tmp_path / "words.vec"
    path.write_text(f"{len(lines)} {dim}\n" + "".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("case, needle", [
    ("missing", "no such file"),
    ("short-line", "words.vec:3: expected a word and 4 values, got 2"),
    ("bad-float", "words.vec:2: bad float 'x1'"),
    ("bad-header", "words.vec:1: bad header"),
    ("freeze-without-vectors", "freeze: needs vectors"),
    ("embed-dim-mismatch", "embed_dim: 8 but the embeddings' vectors are 4-dimensional"),
])
def test_bad_pretrained_vectors_exit_2(tmp_path: Path, case: str, needle: str) -> None:
    good = "good 0.1 0.2 0.3 0.4"
    args = ["run", "--out", str(tmp_path / "runs"), "-r", "ort-cpu", "-e", "torch-script"]
    if case == "missing":
        args += ["--vectors", str(tmp_path / "nope.vec")]
    elif case == "short-line":
        args += ["--vectors", str(_vec(tmp_path, [good, "bad 0.1 0.2"]))]
    elif case == "bad-float":
        args += ["--vectors", str(_vec(tmp_path, ["good x1 0.2 0.3 0.4"]))]
    elif case == "bad-header":
        (tmp_path / "words.vec").write_text("four dims\n" + good + "\n")
        args += ["--vectors", str(tmp_path / "words.vec")]
    elif case == "freeze-without-vectors":
        args += ["--freeze-embedding"]
    else:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'twins = [{{name = "lstm", embed_dim = 8}}]\n[embeddings]\nvectors = "{_vec(tmp_path, [good])}"\n')
        args += [str(cfg)]
    assert_one_line_error(twinbench(*args), 2, needle)


@pytest.mark.parametrize("twin, needle", [
    ('{name = "bilstm", hidden = -4}', "hidden: must be a positive integer, got -4"),
    ('{name = "gru", head = "sigmoid", num_classes = 2}', "num_classes: the sigmoid head has one output"),
    ('{name = "cnn", kernel_sizes = [3, 0]}', "kernel_sizes"),
    ('{name = "transformer", embed_dim = 30, num_heads = 4}', "num_heads"),
    ('{name = "mlp", widht = 3}', "widht"),
])
def test_bad_twin_configs_exit_2_naming_the_field(tmp_path: Path, twin: str, needle: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"twins = [{twin}]\n")
    assert_one_line_error(twinbench("run", str(cfg), "--out", str(tmp_path / "runs")), 2, needle)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("twin, seq, needle", [
    ("transformer", "100000", "twin 'transformer' accepts sequence lengths 1..16, got 100000"),
    ("cnn", "3", "twin 'cnn' accepts sequence lengths >= 5, got 3"),
])
def test_a_length_the_twin_cannot_take_is_refused_before_training(tmp_path: Path, twin: str, seq: str,
                                                                   needle: str) -> None:
    t0 = time.perf_counter()
    proc = twinbench("run", "-t", twin, "-s", seq, "--out", str(tmp_path / "runs"))
    assert_one_line_error(proc, 2, needle)
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "runs").exists()  # nothing half-made: no run directory


@pytest.mark.slow
def test_all_skip_parity_is_skip_everywhere(tmp_path: Path) -> None:
    """A run where no parity check could run (its only runtime is unavailable here) says SKIP in
    the CLI, the manifest and the report, and exits 0; so does `twinbench parity` on it."""
    import json

    unavailable = "ort-trt"
    proc = twinbench("run", "-t", "lstm", "-e", "torch-script", "-r", unavailable, "--epochs", "1",
                     "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "parity: SKIP" in proc.stdout
    run_dir = Path(proc.stdout.split("report: ")[1].splitlines()[0].strip()).parent
    assert json.loads((run_dir / "manifest.json").read_text())["parity_verdict"] == "SKIP"
    assert "Overall verdict: SKIP" in (run_dir / "report.md").read_text()
    again = twinbench("parity", str(run_dir), "-r", unavailable)
    assert again.returncode == 0 and "parity: SKIP" in again.stdout, again.stdout + again.stderr
