"""Facts about this machine that change timings, recorded with every run.

The CPU comes from py-cpuinfo2 (module `cpuinfo`: the maintained fork of py-cpuinfo that
pytest-benchmark also uses; model, every flag, caches, clock) rather than our own parsing; the
rest is read from /proc and /sys where the kernel exposes it (a VM or container often hides the
frequency governor and turbo: those keys are then None, never guessed). The `fingerprint` keeps
its meaning across versions: a hash of CPU model | cores | GPU | OS | arch, with the model read
from /proc/cpuinfo as before, so runs recorded by older versions still match.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

SYS_CPU = Path("/sys/devices/system/cpu")


def _read(path: Path | str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _proc_cpu_model() -> str:
    """The model name the fingerprint has always used (first `model name` of /proc/cpuinfo)."""
    model = platform.processor() or platform.machine()
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return model


@functools.lru_cache(maxsize=1)
def cpu_details() -> dict[str, Any]:
    """py-cpuinfo's view of the CPU: vendor, family/model/stepping, clock, caches and all flags."""
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception as exc:  # py-cpuinfo probes in a subprocess; a failure must not stop a run
        return {"error": f"py-cpuinfo: {type(exc).__name__}: {exc}"}
    hz = info.get("hz_advertised") or info.get("hz_actual")
    return {
        "brand": info.get("brand_raw"), "vendor": info.get("vendor_id_raw"),
        "family": info.get("family"), "model": info.get("model"), "stepping": info.get("stepping"),
        "hz_advertised_ghz": round(hz[0] / 1e9, 3) if hz and hz[0] else None,
        "l1_data_cache_kb": _kb(info.get("l1_data_cache_size")),
        "l1_instruction_cache_kb": _kb(info.get("l1_instruction_cache_size")),
        "l2_cache_kb": _kb(info.get("l2_cache_size")), "l3_cache_kb": _kb(info.get("l3_cache_size")),
        "flags": sorted(info.get("flags") or []),
        "py_cpuinfo": info.get("cpuinfo_version_string"),
    }


def _kb(size: Any) -> int | None:
    return int(size) // 1024 if isinstance(size, int) and size > 0 else None


def memory() -> dict[str, float | None]:
    """Total and available memory in GB (/proc/meminfo)."""
    out: dict[str, float | None] = {"total_gb": None, "available_gb": None}
    for line in (_read("/proc/meminfo") or "").splitlines():
        name, _, rest = line.partition(":")
        key = {"MemTotal": "total_gb", "MemAvailable": "available_gb"}.get(name)
        if key and rest.split():
            out[key] = round(int(rest.split()[0]) / 1024**2, 1)
    return out


def frequency() -> dict[str, Any]:
    """Governor, scaling driver, clock range and turbo state, where /sys shows them (else None)."""
    governors = sorted({g for g in (_read(p) for p in SYS_CPU.glob("cpu[0-9]*/cpufreq/scaling_governor")) if g})
    khz = [_read(SYS_CPU / "cpu0" / "cpufreq" / f) for f in ("cpuinfo_min_freq", "cpuinfo_max_freq")]
    return {
        "governor": ",".join(governors) or None,
        "driver": _read(SYS_CPU / "cpu0" / "cpufreq" / "scaling_driver"),
        "min_mhz": int(khz[0]) // 1000 if khz[0] and khz[0].isdigit() else None,
        "max_mhz": int(khz[1]) // 1000 if khz[1] and khz[1].isdigit() else None,
        "turbo": turbo(),
        "smt": {"1": True, "0": False}.get(_read(SYS_CPU / "smt" / "active") or ""),
        "isolated_cpus": _read(SYS_CPU / "isolated") or None,
    }


def turbo() -> bool | None:
    """True when the CPU may boost above its base clock (intel_pstate or cpufreq boost), None unknown."""
    no_turbo = _read(SYS_CPU / "intel_pstate" / "no_turbo")
    if no_turbo in ("0", "1"):
        return no_turbo == "0"
    boost = _read(SYS_CPU / "cpufreq" / "boost")
    return {"1": True, "0": False}.get(boost or "")


def virtualization(flags: list[str] | None = None) -> dict[str, Any]:
    """Whether this is a VM and/or a container, and which, from systemd-detect-virt and the usual marks."""
    vm = container = None
    exe = shutil.which("systemd-detect-virt")
    if exe:
        for opt, slot in (("--vm", "vm"), ("--container", "container")):
            try:
                out = subprocess.run([exe, opt], capture_output=True, text=True, timeout=5).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                out = ""
            if out and out != "none":
                vm, container = (out, container) if slot == "vm" else (vm, out)
    if vm is None and "hypervisor" in (flags or []):
        vm = "yes (cpu flag hypervisor)"
    if container is None:
        cgroup = _read("/proc/1/cgroup") or ""
        if Path("/.dockerenv").exists() or "docker" in cgroup:
            container = "docker"
        elif Path("/run/.containerenv").exists():
            container = "podman"
        elif "kubepods" in cgroup:
            container = "kubernetes"
        elif "lxc" in cgroup:
            container = "lxc"
    return {"vm": vm, "container": container}


def gpu() -> dict[str, Any] | None:
    """The first NVIDIA GPU's name, driver and memory (nvidia-smi), or None."""
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
    parts = [s.strip() for s in out.splitlines()[0].split(",")]
    if len(parts) != 3:
        return None
    name, driver, mem = parts
    try:
        mem_gb: float | None = round(float(mem) / 1024, 1)
    except ValueError:
        mem_gb = None
    return {"name": name, "driver": driver, "memory_gb": mem_gb, "count": len(out.splitlines())}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fingerprint(cpu_model: str, n_cores: int, gpu_name: str | None) -> str:
    """This kind of machine: same meaning since schema 1, so old and new runs compare."""
    key = f"{cpu_model}|{n_cores}|{gpu_name or '-'}|{platform.system()}|{platform.machine()}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def machine_info() -> dict[str, Any]:
    """Everything above in one JSON-able mapping (the manifest's `machine`).

    The keys of earlier versions keep their meaning (fingerprint, host, os, arch, cpu_model,
    cpu_cores, cpu_flags, memory_gb, gpu); `cpu_flags` now lists every flag."""
    model, n, card = _proc_cpu_model(), cores(), gpu()
    cpu = cpu_details()
    mem = memory()
    return {
        "fingerprint": fingerprint(model, n, card["name"] if card else None),
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu_model": model,
        "cpu_cores": n,
        "cpu_count_online": os.cpu_count(),
        "cpu_flags": cpu.get("flags", []),
        "cpu": {k: v for k, v in cpu.items() if k != "flags"},
        "memory_gb": mem["total_gb"],
        "memory_available_gb": mem["available_gb"],
        "frequency": frequency(),
        "virtualization": virtualization(cpu.get("flags")),
        "gpu": card,
        "python": platform.python_version(),
    }


def row_fingerprints(machine_infos: Any, manifest: dict[str, Any], n: int) -> list[str]:
    """The fingerprint of the machine each of `n` result rows was measured on: the node's own
    (`machine_info` of a row an executor ran remotely, a dict or JSON text) or else this run's."""
    import json

    local = str((manifest.get("machine") or {}).get("fingerprint") or "")
    values = list(machine_infos) if machine_infos is not None else [None] * n
    out = []
    for info in values:
        if isinstance(info, str) and info.strip():
            try:
                info = json.loads(info)
            except ValueError:
                info = None
        fp = info.get("fingerprint") if isinstance(info, dict) else None
        out.append(str(fp) if fp else local)
    return out


def summary_rows(machine: dict[str, Any]) -> list[tuple[str, str]]:
    """Report header rows for the details recorded since py-cpuinfo (none for an older manifest)."""
    rows: list[tuple[str, str]] = []
    cpu = machine.get("cpu") or {}
    if cpu and not cpu.get("error"):
        caches = ", ".join(f"{name} {cpu[key]} KB" for name, key in (("L1d", "l1_data_cache_kb"),
                           ("L2", "l2_cache_kb"), ("L3", "l3_cache_kb")) if cpu.get(key))
        clock = f"{cpu['hz_advertised_ghz']} GHz" if cpu.get("hz_advertised_ghz") else "clock unknown"
        rows.append(("CPU details", f"{cpu.get('vendor') or '?'} family {cpu.get('family')} model {cpu.get('model')}, "
                                    f"{clock}; {caches or 'caches unknown'}; {len(machine.get('cpu_flags') or [])} flags"))
    freq = machine.get("frequency")
    if isinstance(freq, dict):
        turbo = {True: "on", False: "off", None: "not exposed"}[freq.get("turbo")]
        rows.append(("frequency", f"governor {freq.get('governor') or 'not exposed'}, turbo {turbo}"))
    virt = machine.get("virtualization")
    if isinstance(virt, dict):
        rows.append(("virtualization", ", ".join(f"{k} {v}" for k, v in virt.items() if v) or "bare metal"))
    return rows
