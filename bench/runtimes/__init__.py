"""The runtime registry. Each adapter module is light at import time (frameworks load inside
functions), so listing runtimes never needs torch, TensorFlow, ONNX Runtime or OpenVINO."""

from __future__ import annotations

from twinbench.bench.runtimes import (keras_eager, keras_predict, openvino_native, ort, tf_function, torch_compile,
                                      torch_eager)
from twinbench.bench.runtimes.base import LoadOptions, Runtime, Session
from twinbench.errors import ConfigError

__all__ = ["RUNTIMES", "LoadOptions", "Runtime", "Session", "get_runtime", "list_runtimes", "register_runtime"]

RUNTIMES: dict[str, Runtime] = {}


def register_runtime(runtime: Runtime, *, replace: bool = False) -> Runtime:
    """Add a runtime (users and tests add their own; the worker imports their module first)."""
    if runtime.name in RUNTIMES and not replace and RUNTIMES[runtime.name] is not runtime:
        raise ConfigError(f"runtime {runtime.name!r} is already registered")
    RUNTIMES[runtime.name] = runtime
    return runtime


for _rt in (torch_eager.RUNTIME, torch_compile.RUNTIME, tf_function.RUNTIME, keras_eager.RUNTIME,
            keras_predict.RUNTIME, *ort.RUNTIMES, openvino_native.RUNTIME):
    register_runtime(_rt)


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
