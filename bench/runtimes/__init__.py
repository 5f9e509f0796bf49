"""The runtime registry. One module per runtime in this folder exposes `RUNTIME` (or a tuple
`RUNTIMES`); importing this package imports every module whose name does not start with "_" and
registers what it exposes, so adding a runtime is adding a file. Each module is light at import
time (frameworks load inside functions), so listing runtimes never needs torch, TensorFlow, ONNX
Runtime or OpenVINO. Users and tests add theirs from any module with `register_runtime`."""

from __future__ import annotations

from types import ModuleType

from twinbench.bench.runtimes.base import LoadOptions, Runtime, Session
from twinbench.core.discovery import import_modules
from twinbench.core.errors import ConfigError

__all__ = ["RUNTIMES", "LoadOptions", "Runtime", "Session", "discover", "get_runtime", "list_runtimes",
           "register_module", "register_runtime"]

RUNTIMES: dict[str, Runtime] = {}


def register_runtime(runtime: Runtime, *, replace: bool = False) -> Runtime:
    """Add a runtime (users and tests add their own; the worker imports their module first)."""
    if runtime.name in RUNTIMES and not replace and RUNTIMES[runtime.name] is not runtime:
        raise ConfigError(f"runtime {runtime.name!r} is already registered")
    RUNTIMES[runtime.name] = runtime
    return runtime


def register_module(module: ModuleType) -> list[str]:
    """Register the `RUNTIME` and/or `RUNTIMES` a module exposes; returns their names."""
    found = [*([module.RUNTIME] if hasattr(module, "RUNTIME") else []), *getattr(module, "RUNTIMES", ())]
    return [register_runtime(rt).name for rt in found]


def discover() -> list[str]:
    """Import every runtime module on this package's path and register its runtimes (idempotent);
    returns the names registered."""
    return [name for module in import_modules(__name__, __path__) for name in register_module(module)]


discover()


def get_runtime(name: str) -> Runtime:
    """The named runtime; unknown names raise ConfigError listing the known ones."""
    if name not in RUNTIMES:
        raise ConfigError(f"unknown runtime {name!r} (known: {', '.join(sorted(RUNTIMES))})")
    return RUNTIMES[name]


def unavailable_reason(runtime: Runtime) -> str | None:
    """available() must not raise; if an adapter's check does anyway, that is the reason."""
    try:
        return runtime.available()
    except Exception as exc:  # a broken framework install becomes a reason, not a crash
        return f"availability check failed: {type(exc).__name__}: {exc}"


def runtime_devices(runtime: Runtime) -> list[str]:
    try:
        return list(runtime.devices())
    except Exception:  # same contract as unavailable_reason
        return []


def list_runtimes() -> list[tuple[str, list[str], str | None]]:
    """(name, devices present here, reason unavailable or None) for every registered runtime."""
    out = []
    for name, rt in RUNTIMES.items():
        reason = unavailable_reason(rt)
        out.append((name, [] if reason else runtime_devices(rt), reason))
    return out
