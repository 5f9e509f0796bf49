"""Where a twin module's file is and what it holds, found without importing it.

A run directory records the twin modules its run imported (`config.twin_modules`). A run directory
travels between people, so what it names is data: `run --resume` imports a recorded module again
only when the file at the recorded place still has the recorded content (sha256) and does not lie
inside the run directory itself. This module finds a module's file (a `.py` path, or a dotted name
looked up the way `import` would, without executing any package's `__init__`) and hashes it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from twinbench.core.errors import ConfigError


@dataclass(frozen=True)
class ModuleRecord:
    """A twin module as a run recorded it: as it was named (`spec`), its file, and that file's sha256."""

    __extra__ = "ignore"
    spec: str
    path: str
    sha256: str


def is_path(spec: str) -> bool:
    """A module named by its file (`x.py`, `dir/x`) rather than by a dotted import name."""
    return spec.endswith(".py") or "/" in spec or Path(spec).exists()


def locate(spec: str) -> Path | None:
    """The source file `spec` would be imported from, or None when it cannot be found. A dotted
    name is searched on `sys.path` part by part (no package is imported to find its child)."""
    if is_path(spec):
        path = Path(spec).expanduser()
        return path.resolve() if path.is_file() else None
    found = None
    parts = spec.split(".")
    for i, part in enumerate(parts):
        if not part.isidentifier():
            return None
        name, parent = ".".join(parts[: i + 1]), ".".join(parts[:i])
        try:  # through every finder where that executes nothing new: the top level, or under an imported parent
            if i == 0 or parent in sys.modules:
                found = importlib.util.find_spec(name)
            else:  # under a parent not imported yet: its folders only, so its __init__ does not run
                found = importlib.machinery.PathFinder.find_spec(part, list(found.submodule_search_locations or []))
        except (ImportError, ValueError, OSError):
            return None
        if found is None:
            return None
    if found is None or not found.origin or not Path(found.origin).is_file():
        return None
    return Path(found.origin).resolve()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record(spec: str) -> ModuleRecord | None:
    """What a run records of a module it imported (None when its file cannot be found: a built-in
    or frozen module, which a run directory cannot change)."""
    path = locate(spec)
    if path is None:
        return None
    try:
        return ModuleRecord(spec, str(path), sha256(path))
    except OSError:
        return None


def records(specs: Iterable[str]) -> list[dict[str, str]]:
    """The manifest's `twin_module_files`: one record per module whose file could be found."""
    out = []
    for spec in specs:
        rec = record(spec)
        if rec is not None:
            out.append({"spec": rec.spec, "path": rec.path, "sha256": rec.sha256})
    return out


def inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return True  # a path that cannot be resolved is not trusted


def verify(spec: str, recorded: Sequence[ModuleRecord], run_dir: Path) -> str:
    """A module a run recorded (`spec` as written in its manifest), checked before `--resume`
    imports it again: found where the run found it, outside the run directory, with the content the
    run recorded. Returns what to import (the recorded file for a path, else the dotted name);
    ConfigError (one line, exit 2) naming the module and what to do otherwise."""
    hint = "pass the module with --twin-module to import it for this invocation"
    rec = next((r for r in recorded if r.spec == spec), None)
    if rec is None:
        raise ConfigError(f"twin module {spec!r}: the run recorded no content hash for it (an older "
                          f"twinbench, or an edited manifest); a run directory never imports modules by itself: {hint}")
    path = Path(rec.path)
    here = path if is_path(spec) else locate(spec)
    if not path.is_absolute() or inside(path, run_dir) or (here is not None and inside(here, run_dir)):
        raise ConfigError(f"twin module {spec!r}: {rec.path} lies inside the run directory {run_dir} (or is not "
                          f"an absolute path); a run directory never imports its own files: {hint}")
    if here is None or not path.is_file():
        raise ConfigError(f"twin module {spec!r}: {rec.path} is missing; {hint}")
    if here.resolve() != path.resolve():
        raise ConfigError(f"twin module {spec!r}: now found at {here}, the run used {rec.path}; {hint}")
    try:
        now = sha256(path)
    except OSError as exc:
        raise ConfigError(f"twin module {spec!r}: {rec.path} is unreadable ({exc.strerror or exc}); {hint}") from None
    if now != rec.sha256:
        raise ConfigError(f"twin module {spec!r}: {rec.path} changed since the run was made (sha256 {now[:12]}, "
                          f"recorded {rec.sha256[:12]}); {hint}")
    return str(path) if is_path(spec) else spec
