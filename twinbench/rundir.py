"""Run directories: ids, the manifest, and the facts about this machine and its libraries.

Everything a report needs later is captured here at run time, so a report is a pure function of
the run directory and two runs can be checked for being from the same machine and libraries.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import secrets
import shutil
import socket
import subprocess
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from twinbench import __version__
from twinbench.atomic import write_json
from twinbench.bench.schema import SCHEMA_VERSION
from twinbench.layout import RunDir
from twinbench.liveness import now_iso, driver_record

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


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = value.split()
    except OSError:
        pass
    interesting = {"avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16",
                   "amx_tile", "amx_int8", "asimd", "sve", "f16c"}
    return model, sorted(f for f in flags if f in interesting)


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _gpu() -> dict[str, Any] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out:
        return None
    name, driver, mem = [s.strip() for s in out.splitlines()[0].split(",")]
    return {"name": name, "driver": driver, "memory_gb": round(float(mem) / 1024, 1)}


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, GPU and a fingerprint that identifies this kind of machine."""
    cpu_model, flags = _cpuinfo()
    gpu = _gpu()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os_name = f"{platform.system()} {platform.release()}"
    key = f"{cpu_model}|{cores}|{gpu['name'] if gpu else '-'}|{platform.system()}|{platform.machine()}"
    return {
        "fingerprint": hashlib.sha1(key.encode()).hexdigest()[:16],
        "host": socket.gethostname(),
        "os": os_name,
        "arch": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_cores": cores,
        "cpu_flags": flags,
        "memory_gb": _memory_gb(),
        "gpu": gpu,
    }


def git_commit(path: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=path or Path.cwd())
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_json_atomic(path: Path, data: Any) -> None:
    write_json(path, data, indent=2)


def create_run_dir(out_dir: str | Path, config: dict[str, Any], run_id: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Make runs/<id>/ with a manifest in status "running"; returns the path and the manifest."""
    run_id = run_id or new_run_id()
    run_dir = Path(out_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
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
        "timings": {},
    }
    write_json_atomic(RunDir(run_dir).manifest, manifest)
    return run_dir, manifest


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
        "driver": driver_record(),
#: The heartbeat thread and the pipeline both rewrite the manifest; one write at a time.
_MANIFEST_LOCK = threading.Lock()


