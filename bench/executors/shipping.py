"""Cells on another machine without a shared filesystem: what travels with a spec, how a node runs
it, and how its files land in the one run directory.

No Ray in here: a cluster executor moves these plain dicts (bytes and JSON-able values) through its
own transport, and the tests run both halves on one machine. Three steps:

- driver, `outbound(spec)`: the files the cell's worker reads (`CellSpec.files()`, plus user
  modules given as .py paths), as `{shipped name: local path}`;
- node, `run_shipped(spec, files, timeout_s)`: unpack into a fresh temporary run directory, run the
  cell in a FRESH worker process (`local.spawn`, the same as a local run), pack its files back;
- driver, `land(spec, result)`: write those files where a local run would have, so every later
  stage reads one run directory whatever executor ran the cells.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from twinbench.core.atomic import write_json, write_text, write_with
from twinbench.bench.cells import CellSpec
from twinbench.core.rows import failed_row, from_json
from twinbench.core.layout import CellFiles, RunDir
from twinbench.bench.executors.local import spawn

#: Shipped names of user modules (.py paths) start here; no run-directory folder has this name.
MODULES_DIR = "_modules"
#: Module fields of a spec that may name .py files on the driver.
_MODULE_FIELDS = ("twin_modules", "extra_modules")


class ShipError(ValueError):
    """A cell whose inputs cannot be shipped (a file outside the run directory, a missing file)."""


def _cell_files(spec: CellSpec) -> CellFiles:
    return RunDir(spec.run_dir, spec.cells).cell(spec.cell_id)


def _safe_rel(rel: str) -> str:
    """A relative POSIX path that stays inside the directory it is joined to."""
    p = PurePosixPath(str(rel).replace("\\", "/"))
    if p.is_absolute() or not p.parts or ".." in p.parts:
        raise ShipError(f"{rel!r} is not a path inside the run directory, so it cannot be shipped")
    return p.as_posix()


def _module_files(spec: CellSpec) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name in _MODULE_FIELDS:
        for i, mod in enumerate(getattr(spec, name)):
            if mod.endswith(".py"):
                out[f"{MODULES_DIR}/{name}/{i}/{Path(mod).name}"] = Path(mod).resolve()
    return out


def outbound(spec: CellSpec) -> dict[str, Path]:
    """`{shipped name: path on this machine}` of every file the cell's worker reads."""
    root = Path(spec.run_dir)
    out = {_safe_rel(rel): root / rel for rel in spec.files()}
    out.update(_module_files(spec))
    missing = [str(p) for p in out.values() if not p.is_file()]
    if missing:
        raise ShipError(f"cannot ship missing file(s): {', '.join(missing)}")
    return out


def _localized(spec: Mapping[str, Any], root: Path, names: list[str]) -> CellSpec:
    """The spec with its run directory and user-module paths moved into `root`."""
    d = dict(spec, run_dir=str(root))
    for field in _MODULE_FIELDS:
        mods = list(d.get(field) or ())
        for i, mod in enumerate(mods):
            shipped = f"{MODULES_DIR}/{field}/{i}/{Path(mod).name}"
            if mod.endswith(".py") and shipped in names:
                mods[i] = str(root / shipped)
        d[field] = mods
    return CellSpec.from_dict(d)


def run_shipped(spec: Mapping[str, Any], files: Mapping[str, bytes], timeout_s: float,
                tmp_root: str | None = None) -> dict[str, Any]:
    """Node side: run one shipped cell in a fresh worker process inside a temporary run directory
    (removed afterwards). Returns `{"row": dict, "files": {CellFiles field: bytes}}`; the worker's
    spec file is not returned (it names this node's temporary paths)."""
    root = Path(tempfile.mkdtemp(prefix="twinbench-cell-", dir=tmp_root))
    try:
        for name, data in files.items():
            target = root / _safe_rel(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        local = _localized(spec, root, list(files))
        row = spawn([local], timeout_s)[0]
        paths = _cell_files(local)
        out = {}
        for f in dataclasses.fields(CellFiles):
            path = getattr(paths, f.name)
            if f.name not in ("row", "spec") and path.is_file():
                out[f.name] = path.read_bytes()
        return {"row": row, "files": out}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def clear(spec: CellSpec) -> None:
    """Remove a cell's earlier files from the run directory (a re-run must not mix with them)."""
    for path in _cell_files(spec).all():
        path.unlink(missing_ok=True)


def land(spec: CellSpec, result: Mapping[str, Any], machine_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Driver side: write a node's result into the run directory exactly where a local run would
    have (row, samples, outputs, log, ...) plus the driver's own spec; returns the row, which
    records the machine kind and the node's machine info."""
    paths = _cell_files(spec)
    clear(spec)
    paths.row.parent.mkdir(parents=True, exist_ok=True)
    names = {f.name for f in dataclasses.fields(CellFiles)} - {"row", "spec"}
    for name, data in (result.get("files") or {}).items():
        if name in names:
            write_with(getattr(paths, name), lambda tmp, data=data: tmp.write_bytes(data))
    write_text(paths.spec, spec.to_json())
    raw = result.get("row")
    row = from_json(raw, spec.key_row()) if isinstance(raw, Mapping) else failed_row(
        spec.key_row(), "the node returned no results row")
    return record_machine(spec, row, machine_info)


def record_machine(spec: CellSpec, row: dict[str, Any], machine_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """Set the row's machine columns and (re)write its file: the row on disk is what tables read."""
    row["machine"] = spec.machine
    row["machine_info"] = json.dumps(dict(machine_info), sort_keys=True, default=str) if machine_info else ""
    write_json(_cell_files(spec).row, row)
    return row
