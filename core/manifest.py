"""Run directories: ids, the manifest, and the facts about this machine and its libraries.

Everything a report needs later is captured here at run time, so a report is a pure function of
the run directory and two runs can be checked for being from the same machine and libraries.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import secrets
import subprocess
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from twinbench.core import __version__
from twinbench.core.atomic import write_json
from twinbench.core.schema import SCHEMA_VERSION
from twinbench.core.layout import RunDir
from twinbench.core.liveness import now_iso, driver_record

LIBRARIES = ("torch", "tensorflow", "tensorflow-cpu", "keras", "onnx", "onnxscript", "onnxruntime",
             "onnxruntime-gpu", "openvino", "tf2onnx", "numpy", "pandas", "pyarrow")


def new_run_id() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def library_versions() -> dict[str, str]:
    """Installed versions read from package metadata (no framework is imported)."""
    out = {"python": platform.python_version(), "twinbench": __version__}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine_info() -> dict[str, Any]:
    """CPU (py-cpuinfo), cores, memory, frequency, VM/container, GPU and the fingerprint (core/machine.py)."""
    from twinbench.core.machine import machine_info as describe

    return describe()


def git_commit(path: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=path or Path.cwd())
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def git_dirty(path: Path | None = None) -> bool | None:
    """True when tracked files differ from the commit (what ran is not exactly `git_commit`);
    None outside a git work tree. Untracked files do not count: run directories are often inside."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                             text=True, timeout=10, cwd=path or Path.cwd())
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def write_json_atomic(path: Path, data: Any) -> None:
    write_json(path, data, indent=2)


def create_run_dir(out_dir: str | Path, config: dict[str, Any], run_id: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Make runs/<id>/ with a manifest in status "running"; returns the path and the manifest."""
    run_id = run_id or new_run_id()
    run_dir = Path(out_dir) / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:  # made since the pre-flight check (another run with the same id)
        from twinbench.core.errors import ConfigError

        raise ConfigError(f"run_id: {str(run_dir)!r} already exists (choose another run_id)") from None
    RunDir(run_dir).ensure()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "config": config,
        "versions": library_versions(),
        "machine": machine_info(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "timings": {},
        "driver": driver_record(),
        "cwd": os.getcwd(),  # what relative paths given on the command line were relative to (--resume)
    }
    write_json_atomic(RunDir(run_dir).manifest, manifest)
    return run_dir, manifest


#: The heartbeat thread and the pipeline both rewrite the manifest; one write at a time.
_MANIFEST_LOCK = threading.Lock()


def update_manifest(run_dir: Path, manifest: dict[str, Any], **changes: Any) -> None:
    with _MANIFEST_LOCK:
        manifest.update(changes)
        write_json_atomic(RunDir(run_dir).manifest, manifest)


def heartbeat(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Refresh the driver's heartbeat in the manifest (liveness.Heartbeat calls this)."""
    with _MANIFEST_LOCK:
        driver = dict(manifest.get("driver") or driver_record())
        driver["heartbeat"] = now_iso()
        manifest["driver"] = driver
        write_json_atomic(RunDir(run_dir).manifest, manifest)
