"""Shared by the benchmark scripts: drive `twinbench` through its CLI, one invocation per
measurement, exactly as a CI job does (never A and B inside one process)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT_S = 1800


def options_and_workdir(doc: str, prefix: str, **defaults: Any) -> tuple[argparse.Namespace, Path]:
    """The script's `--name value` options (each typed like its default; `bound_ms` is `--bound-ms`)
    and a fresh scratch folder named with `prefix`."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    return ap.parse_args(), Path(tempfile.mkdtemp(prefix=prefix))


def tb(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT_S)


def run_dir_of(proc: subprocess.CompletedProcess) -> Path:
    if proc.returncode not in (0, 1) or "report: " not in proc.stdout:
        sys.exit(f"twinbench failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return Path(proc.stdout.split("report: ")[1].splitlines()[0].strip()).parent


def make_source(out: Path, runtimes: list[str], batches: list[int], seq: int, repeats: int) -> Path:
    """One small trained run (lstm, TorchScript ONNX) whose artifacts every measurement reuses."""
    args = ["run", "--epochs", "1", "-t", "lstm", "-e", "torch-script", "-s", str(seq), "--repeats", str(repeats),
            "--out", str(out)]
    for r in runtimes:
        args += ["-r", r]
    for b in batches:
        args += ["-b", str(b)]
    return run_dir_of(tb(*args))


def bench(source: Path, out: Path, repeats: int, config: Path | None = None) -> Path:
    args = ["bench", str(source), "--out", str(out), "--repeats", str(repeats)]
    if config is not None:
        args += ["--config", str(config)]
    return run_dir_of(tb(*args))


def headline(run: Path) -> Any:
    """The run's timed cells: artifact, runtime, batch, seq_len -> p50_ms (and spread, MDE)."""
    import pandas as pd

    res = pd.read_parquet(run / "results.parquet")
    res = res[res["status"].isin(["ok", "invalid"]) & (res["twin"] != "_calibration")]
    return res.set_index(["artifact", "runtime", "batch", "seq_len"])[["p50_ms", "between_spread", "mde", "status"]]


def manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / "manifest.json").read_text())
