"""The runtime registry. One module per runtime in this folder registers its `load` function with
`@register_runtime(name, accepts=..., available=..., devices=..., settings=...)`; the registry imports
every module whose name does not start with "_" on first use, so adding a runtime is adding a file.
Each module is light at import time (frameworks load inside functions), so listing runtimes never
needs torch, TensorFlow, ONNX Runtime or OpenVINO. Users and tests register theirs the same way."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twinbench.bench.runtimes.base import LoadOptions, NoSettings, Runtime, Session
from twinbench.core.registry import Registry

__all__ = ["RUNTIMES", "LoadOptions", "Runtime", "Session", "get_runtime", "list_runtimes", "register_runtime",
           "runtime_devices", "unavailable_reason"]


def _runtime(name: str, load: Callable[..., Session], *, accepts: Iterable[str], available: Callable[[], str | None],
             devices: Callable[[], list[str]], settings: type = NoSettings, doc: str = "") -> Runtime:
    return Runtime(name=name, accepts=frozenset(accepts), available=available, devices=devices, load=load,
                   doc=doc or (load.__doc__ or "").strip().split("\n")[0], settings=settings)


RUNTIMES: Registry[Runtime] = Registry("runtime", package="twinbench.bench.runtimes", make=_runtime)


def register_runtime(name: str, *, accepts: Iterable[str], available: Callable[[], str | None],
                     devices: Callable[[], list[str]], settings: type = NoSettings, doc: str = "",
                     replace: bool = False) -> Callable[[Any], Any]:
    """Decorator on a runtime's `load(artifact, LoadOptions) -> Session`: registers it under `name`.
    `settings` is the frozen dataclass `runtime_settings.<name>` must fit (checked with the config)."""
    return RUNTIMES.register(name, accepts=accepts, available=available, devices=devices, settings=settings,
                             doc=doc, replace=replace)


def get_runtime(name: str) -> Runtime:
    """The named runtime; unknown names raise ConfigError listing the known ones."""
    return RUNTIMES.get(name)


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
