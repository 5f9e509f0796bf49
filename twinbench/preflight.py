"""Checks of everything a user gave that can fail cheaply, run before any training and before the
run directory exists: a mistake costs a second and one line, not minutes and a half-made run.

The data files and vectors are read by the pipeline itself before the run directory exists (their
readers already raise one-line DataErrors); here are the rest: ONNX files, the output folder and
the run id."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from twinbench.bench.parity.user import check_golden_file, check_reference_onnx
from twinbench.core.errors import ConfigError
from twinbench.exporters.onnx_inputs import INT_TYPES, graph_inputs, input_roles, tokens_input
from twinbench.exporters.user_onnx import load_checked

#: Integer element types the suite's token-id input may have (the worker feeds int64 ids).
TOKEN_DTYPES = INT_TYPES
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def check_onnx_file(path: str | Path, declared: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A user's ONNX file: readable, a model, passing `onnx.checker`, every input's role told
    (token ids, mask, token types, positions: exporters/onnx_inputs.py, `declared` from the config's
    `[onnx_inputs]` first), each of an element type and rank the suite can feed. Returns the token
    input's {"name", "dtype", "shape"} plus "inputs" (every input's role) and "outputs" (names)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"onnx: no such file {str(p)!r}")
    model = load_checked(p, ConfigError, f"onnx: {p}", reason_limit=120, checker_limit=200)
    if not graph_inputs(model):
        raise ConfigError(f"onnx: {p}: the graph has no input; the suite feeds token ids")
    roles = input_roles(model, declared, label=f"onnx: {p}")
    tokens = tokens_input(roles)
    return {"name": tokens.name, "dtype": tokens.dtype, "shape": list(tokens.shape), "path": str(p),
            "inputs": [r.to_dict() for r in roles], "outputs": [o.name for o in model.graph.output]}


def check_onnx_inputs(declared: Mapping[str, str], files: list[dict[str, Any]]) -> None:
    """Every name in `[onnx_inputs]` is an input of some --onnx file (a typo would be ignored)."""
    known = {i["name"] for f in files for i in f["inputs"]}
    unknown = sorted(set(declared) - known)
    if unknown and files:
        raise ConfigError(f"onnx_inputs: {', '.join(repr(u) for u in unknown)} is no input of the ONNX file(s) "
                          f"(their inputs: {', '.join(sorted(known))})")
    if unknown:
        raise ConfigError(f"onnx_inputs: declares {', '.join(repr(u) for u in unknown)} but no --onnx file is given")


def check_reference(cfg: Any, files: list[dict[str, Any]]) -> None:
    """`[onnx_reference]`: the reference ONNX has the files' inputs and a first output; the golden
    .npz holds every input and the first output of each file (bench/parity/user.py)."""
    ref = cfg.onnx_reference
    if (ref.onnx or ref.golden) and not files:
        raise ConfigError("onnx_reference: a reference is for --onnx files, and none is given")
    for f in files:
        if ref.onnx:
            check_reference_onnx(ref.onnx, f)
        if ref.golden:
            check_golden_file(ref.golden, f)


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


def check_onnx_files(cfg: Any) -> list[dict[str, Any]]:
    """The --onnx files, their `[onnx_inputs]` declaration and their `[onnx_reference]`."""
    files = [check_onnx_file(path, cfg.onnx_inputs) for path in cfg.onnx]
    check_onnx_inputs(cfg.onnx_inputs, files)
    check_reference(cfg, files)
    return files


def preflight(cfg: Any, run_id: str) -> list[dict[str, Any]]:
    """Every cheap check of a RunConfig before any work; returns the ONNX files' token inputs."""
    check_out_dir(cfg.out_dir)
    check_run_id(cfg.out_dir, run_id)
    seen: dict[Path, str] = {}
    for path in cfg.onnx:
        same = seen.setdefault(Path(path).resolve(), path)
        if same != path or list(cfg.onnx).count(path) > 1:
            raise ConfigError(f"onnx: {path!r} is given twice (as {same!r}); each file is measured once")
    return check_onnx_files(cfg)
