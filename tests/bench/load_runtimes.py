"""Real runtimes for the load tests, imported by path through a CellSpec's `extra_modules`.

`test-busy` is ONNX Runtime (CPU) plus a calibrated busy-wait of `busy_wait_ms` (a setting) after
every call: a real, exactly known slowdown, busy rather than sleeping so the core stays taken.
`test-crash-load` and `test-abort-load` are ONNX Runtime until queries arrive from LoadGen (calls
made on a load lane thread, bench/load/sut.py), then raise or abort the process: a crash under load.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from twinbench.bench.runtimes import RUNTIMES, get_runtime, register_runtime
from twinbench.bench.runtimes.base import LoadOptions, NoSettings
from twinbench.bench.worker import busy_after


class _Wrapped:
    """An ORT session whose bound calls go through `around(call)`."""

    def __init__(self, inner: Any, around: Callable[[Callable[[], Any]], Callable[[], Any]], extra: dict) -> None:
        self.inner, self.around, self.extra = inner, around, extra

    def bind(self, feeds: Mapping[str, Any]) -> Callable[[], Any]:
        return self.around(self.inner.bind(feeds))

    def fetch(self, result: Any) -> list[Any]:
        return self.inner.fetch(result)

    def sync(self) -> None:
        self.inner.sync()

    def info(self) -> dict[str, Any]:
        return {**self.inner.info(), **self.extra}

    def close(self) -> None:
        self.inner.close()


def _ort(artifact: Any, opts: LoadOptions, drop: str) -> Any:
    settings = {k: v for k, v in opts.settings.items() if k != drop}
    return get_runtime("ort-cpu").load(artifact, LoadOptions(opts.device, opts.threads, opts.run_dir, settings))


def _busy(artifact: Any, opts: LoadOptions) -> Any:
    wait_ns = int(float(opts.settings.get("busy_wait_ms", 0.0)) * 1e6)
    return _Wrapped(_ort(artifact, opts, "busy_wait_ms"), lambda call: busy_after(call, wait_ns),
                    {"busy_wait_ms": wait_ns / 1e6})


def _under_load() -> bool:
    return threading.current_thread().name.startswith("load-lane-")


def _crashing(action: Callable[[], None]) -> Callable[[Any, LoadOptions], Any]:
    def load(artifact: Any, opts: LoadOptions) -> Any:
        def around(call: Callable[[], Any]) -> Callable[[], Any]:
            def maybe_crash() -> Any:
                if _under_load():
                    action()
                return call()

            return maybe_crash

        return _Wrapped(_ort(artifact, opts, ""), around, {})

    return load


def _raise() -> None:
    raise MemoryError("test runtime ran out of memory under load")


TEST_RUNTIMES = {"test-busy": _busy, "test-crash-load": _crashing(_raise), "test-abort-load": _crashing(os.abort)}


@dataclass(frozen=True)
class BusySettings:
    """`test-busy`'s one knob (its settings schema, checked with the config like any runtime's)."""

    busy_wait_ms: float = 0.0


def register_all() -> None:
    for name, load in TEST_RUNTIMES.items():
        if name not in RUNTIMES:
            register_runtime(name, accepts={"onnx"}, available=lambda: None, devices=lambda: ["cpu"],
                             settings=BusySettings if name == "test-busy" else NoSettings, doc="test only")(load)


register_all()
