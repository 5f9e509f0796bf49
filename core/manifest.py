"""Run directories: ids, the manifest, and the facts about this machine and its libraries.

Everything a report needs later is captured here at run time, so a report is a pure function of
the run directory and two runs can be checked for being from the same machine and libraries.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import secrets
import subprocess
import threading
from importlib import metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from twinbench.core import __version__
from twinbench.core.atomic import write_json
from twinbench.core.schema import SCHEMA_VERSION
from twinbench.core.layout import RunDir
from twinbench.core.errors import ConfigError, RunDirError, summary
from twinbench.core.liveness import driver_record, effective_status, now_iso
from twinbench.core.typed import build, number
from twinbench.core.machine import machine_info as describe
from twinbench.core.modules import ModuleRecord, records as module_records

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
        # each twin module's file and sha256: `--resume` imports only the very file the run did (core/modules.py)
        "twin_module_files": module_records(config.get("twin_modules") or ()),
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


# reading ------------------------------------------------------------------------------------------

Status = Literal["running", "complete", "failed", "interrupted"]


@dataclass(frozen=True)
class GpuInfo:
    """The first NVIDIA GPU nvidia-smi saw (core/machine.py `gpu`)."""

    __extra__ = "ignore"
    name: str = ""
    driver: str = ""
    memory_gb: float | None = None
    count: int = number(1, ge=0)


@dataclass(frozen=True)
class MachineInfo:
    """What a run recorded about the machine that measured it (core/machine.py `machine_info`),
    typed. Keys a newer version adds are kept in the manifest file and ignored here."""

    __extra__ = "ignore"
    fingerprint: str = ""
    host: str = ""
    os: str = ""
    arch: str = ""
    cpu_model: str = ""
    cpu_cores: int | None = None
    cpu_count_online: int | None = None
    cpu_flags: tuple[str, ...] = ()
    cpu: dict[str, Any] = field(default_factory=dict)
    memory_gb: float | None = None
    memory_available_gb: float | None = None
    frequency: dict[str, Any] | None = None
    virtualization: dict[str, Any] | None = None
    gpu: GpuInfo | None = None
    python: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # a Ray node's own library versions
    node_id: str | None = None
    node_ip: str | None = None


@dataclass(frozen=True)
class Manifest:
    """`manifest.json`, read and type-checked once (`read_manifest`). `config` stays the plain
    table the run was given (the front turns it into its typed `RunConfig`); `raw` is the whole
    file as read, for the few keys only some runs carry (embeddings, overlap, resumes)."""

    __extra__ = "ignore"
    schema_version: int
    run_id: str
    status: Status
    created: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    machine: MachineInfo = field(default_factory=MachineInfo)
    git_commit: str | None = None
    git_dirty: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)
    driver: dict[str, Any] | None = None
    cwd: str | None = None
    kind: str = "run"
    source_run: str | None = None
    parity_verdict: Literal["PASS", "FAIL", "SKIP", "ERROR"] | None = None
    error: str | None = None
    twin_module_files: tuple[ModuleRecord, ...] = ()
    path: Path = Path("manifest.json")
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def effective_status(self) -> str:
        """The status, with "running" read as "interrupted" when its driver is gone."""
        return effective_status(self.raw)


def parse_manifest(data: Any, path: Path) -> Manifest:
    """A manifest from its parsed JSON: every recorded field checked for its type; a bad one is a
    RunDirError naming the file and the field (exit 2), never a crash further down."""
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: not a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunDirError(f"{path}: schema_version {version!r}, this twinbench reads {SCHEMA_VERSION}")
    for key in ("run_id", "status"):
        if key not in data:
            raise RunDirError(f"{path}: {key}: missing")
    try:
        typed = build(Manifest, {k: v for k, v in data.items() if k not in ("path", "raw")}, "", extra="ignore")
    except ConfigError as exc:
        raise RunDirError(f"{path}: {exc}") from None
    return dataclasses.replace(typed, path=Path(path), raw=dict(data))


def read_manifest(run_dir: str | Path, *, require_complete: bool = True) -> Manifest:
    """The one reader of `manifest.json`: present, valid JSON, this schema version, every field of
    the right type, and (unless `require_complete` is off) a complete run. Every command that takes
    a run directory comes through here; any fault is one RunDirError line (exit 2)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found")
    path = RunDir(run_dir).manifest
    if not path.is_file():
        raise RunDirError(f"{path}: missing (not a run directory)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RunDirError(f"{path}: corrupt JSON ({summary(exc, 120)})") from None
    manifest = parse_manifest(data, path)
    status = manifest.effective_status
    if require_complete and status != "complete":
        hint = f"; continue it with `twinbench run --resume {run_dir}`" if status in ("interrupted", "failed") else ""
        raise RunDirError(f"{path}: status is {status!r}, not 'complete'{hint}")
    return manifest
