"""Checks of everything a user gave that can fail cheaply, run before any training and before the
run directory exists: a mistake costs a second and one line, not minutes and a half-made run.

The data files and vectors are read by the pipeline itself before the run directory exists (their
readers already raise one-line DataErrors); here are the rest: ONNX files, the output folder and
the run id."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from twinbench.core.errors import ConfigError
from twinbench.exporters.user_onnx import load_checked

#: Integer element types the suite's token-id input may have (the worker feeds int64 ids).
TOKEN_DTYPES = ("int64", "int32")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def check_onnx_file(path: str | Path) -> dict[str, Any]:
    """A user's ONNX file: readable, a model, passing `onnx.checker`, with exactly one graph input
    of integer token ids of rank 2 (or unknown rank). Returns that input's {"name", "dtype", "shape"}."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"onnx: no such file {str(p)!r}")
    model = load_checked(p, ConfigError, f"onnx: {p}", reason_limit=120, checker_limit=200)
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ConfigError(f"onnx: {p}: needs exactly one input (token ids), has {len(inputs)}: "
                          f"{[i.name for i in inputs]}")
    tt = inputs[0].type.tensor_type
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
    except Exception:
        dtype = f"type {tt.elem_type}"
    if dtype not in TOKEN_DTYPES:
        raise ConfigError(f"onnx: {p}: input {inputs[0].name!r} is {dtype}; the suite feeds token ids "
                          f"({' or '.join(TOKEN_DTYPES)})")
    shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tt.shape.dim]
    if tt.HasField("shape") and len(shape) != 2:
        raise ConfigError(f"onnx: {p}: input {inputs[0].name!r} has rank {len(shape)}; the suite feeds "
                          f"[batch, seq_len]")
    return {"name": inputs[0].name, "dtype": dtype, "shape": shape}


def check_out_dir(out_dir: str | Path) -> None:
    """The folder for run directories exists as a writable folder, or can be made."""
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"out_dir: {str(p)!r} is a file, not a folder")
    probe = p.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"out_dir: {str(p)!r}: {str(probe)!r} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"out_dir: {str(p)!r}: {str(probe)!r} is not writable")


def check_run_id(out_dir: str | Path, run_id: str) -> None:
    """A file-name-safe id whose run directory does not exist yet."""
    if not isinstance(run_id, str) or not _SAFE_ID.match(run_id):
        raise ConfigError(f"run_id: {run_id!r} is not a safe folder name (letters, digits, _ . + -)")
    target = Path(out_dir) / run_id
    if target.exists() or target.is_symlink():
        raise ConfigError(f"run_id: {str(target)!r} already exists (choose another run_id, or continue it "
                          f"with `twinbench run --resume {target}`)")


def preflight(cfg: Any, run_id: str) -> list[dict[str, Any]]:
    """Every cheap check of a RunConfig before any work; returns the ONNX files' token inputs."""
    check_out_dir(cfg.out_dir)
    check_run_id(cfg.out_dir, run_id)
    seen: dict[Path, str] = {}
    for path in cfg.onnx:
        same = seen.setdefault(Path(path).resolve(), path)
        if same != path or list(cfg.onnx).count(path) > 1:
            raise ConfigError(f"onnx: {path!r} is given twice (as {same!r}); each file is measured once")
    return [check_onnx_file(path) for path in cfg.onnx]
