"""`torch-compile`: torch.compile (inductor by default) of the native module. Compilation happens in
the cold start (first run), never inside the timed samples."""

from __future__ import annotations

import functools
import shutil
import sys
from typing import Any, Literal

from twinbench.bench.runtimes import _util, torch_eager
from dataclasses import dataclass

from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.exporters.artifact import Artifact



@dataclass(frozen=True)
class CompileSettings:
    """torch.compile's arguments (`dynamic` None: static first, dynamic after a shape change)."""

    backend: str = "inductor"
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = None
    dynamic: bool | None = None
    allow_tf32: bool = False


@functools.lru_cache(maxsize=1)
def available() -> str | None:
    reason = _util.missing("torch")
    if reason:
        return reason
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        return "no C++ compiler found (inductor needs one)"
    if sys.version_info >= (3, 14):
        return f"torch.compile does not support Python {sys.version_info.major}.{sys.version_info.minor} yet"
    return None


def devices() -> list[str]:
    return [] if available() else torch_eager.devices()


@register_runtime("torch-compile", accepts={"torch"}, available=available, devices=devices,
                  settings=CompileSettings, doc="torch.compile of the native torch model (compiled during cold start)")
def load(artifact: Artifact, opts: LoadOptions) -> torch_eager.TorchSession:
    import torch

    s = _util.settings("torch-compile", opts.settings, CompileSettings)
    model, threads = torch_eager.prepare_model(artifact, opts, "torch-compile")
    compiled = torch.compile(model, backend=s.backend, mode=s.mode, dynamic=s.dynamic)
    settings: dict[str, Any] = {"backend": s.backend, "mode": s.mode, "dynamic": s.dynamic, **dict(opts.settings)}
    return torch_eager.TorchSession(compiled, opts.device, threads, settings, runtime="torch-compile")

