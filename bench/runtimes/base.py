"""What every runtime adapter provides. One module per runtime under bench/runtimes/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from twinbench.core.typed import build, number
from twinbench.exporters.artifact import Artifact, ArtifactKind


@dataclass(frozen=True)
class HarnessSettings:
    """Settings of any runtime that the worker takes, not the runtime: `test_delay_ns` adds a
    busy-wait of that many ns to every timed call (a known slowdown for checking regression verdicts
    end to end, benchmarks/ab_regression.py; bench/worker.py `_delayed`); a table {batch = ns}
    gives each batch size its own (benchmarks/gate.py: +10% of every cell)."""

    test_delay_ns: int | dict[str, int] = number(0, ge=0, le=10**12)


HARNESS_SETTINGS = ("test_delay_ns",)


@dataclass(frozen=True)
class NoSettings:
    """A runtime without knobs: any `runtime_settings` key for it is a typo."""


@dataclass(frozen=True)
class Tf32Settings:
    """Only whether TF32 matmuls are allowed on a GPU (off: fp32 parity means fp32)."""

    allow_tf32: bool = False


@dataclass(frozen=True)
class LoadOptions:
    """How to load one artifact in one cell. `settings` are runtime-specific knobs
    (e.g. {"inference_precision": "f32"} for OpenVINO, {"graph_optimization_level": "all"} for ORT)."""

    device: str = "cpu"
    threads: int = 1
    run_dir: str = "."
    settings: Mapping[str, Any] = field(default_factory=dict)


class Session(Protocol):
    """A loaded artifact. `bind` does input preparation (dtype casts, host->device copies)
    outside the timed region and returns a zero-argument call that runs inference once."""

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]: ...

    def fetch(self, result: Any) -> list[np.ndarray]:
        """Turn what the bound call returned into host numpy arrays (not timed)."""
        ...

    def sync(self) -> None:
        """Block until queued device work is done (no-op on CPU)."""
        ...

    def info(self) -> dict[str, Any]:
        """Settings actually in effect: threads read back, precision, providers, io_in_timing."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Runtime:
    """A registered runtime. `available()` returns None when usable, else the reason it is not;
    `devices()` lists devices present here (e.g. ["cpu"] or ["cpu", "cuda"])."""

    name: str
    accepts: frozenset[ArtifactKind]
    available: Callable[[], str | None]
    devices: Callable[[], list[str]]
    load: Callable[[Artifact, LoadOptions], Session]
    doc: str = ""
    settings: type = NoSettings  # the schema of `runtime_settings.<name>`: a frozen dataclass

    def check_settings(self, values: Mapping[str, Any] | None) -> Any:
        """`runtime_settings.<name>` as the runtime's typed settings; one ConfigError line naming
        the setting otherwise. The config check and the worker's load call the same function.
        The harness's own knobs (`HARNESS_SETTINGS`, taken by the worker) are checked here too."""
        values = dict(values or {})
        harness = {k: values.pop(k) for k in list(values) if k in HARNESS_SETTINGS}
        build(HarnessSettings, harness, f"runtime_settings.{self.name}")
        return build(self.settings, values, f"runtime_settings.{self.name}")
