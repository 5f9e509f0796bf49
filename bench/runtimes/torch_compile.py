"""`torch-compile`: torch.compile (inductor by default) of the native module. Compilation happens in
the cold start (first run), never inside the timed samples."""

from __future__ import annotations

import functools
import shutil
import sys
from typing import Any

from twinbench.bench.runtimes import _util, torch_eager
from twinbench.bench.runtimes.base import LoadOptions, Runtime
from twinbench.exporters.artifact import Artifact

SETTINGS = ("backend", "mode", "dynamic", "allow_tf32")


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


def load(artifact: Artifact, opts: LoadOptions) -> torch_eager.TorchSession:
    import torch

    _util.check_settings("torch-compile", opts.settings, SETTINGS)
    model, threads = torch_eager.prepare_model(artifact, opts, "torch-compile")
    backend = str(opts.settings.get("backend", "inductor"))
    mode = opts.settings.get("mode")
    dynamic = opts.settings.get("dynamic")  # None: static first, dynamic after a shape change
    compiled = torch.compile(model, backend=backend, mode=mode, dynamic=dynamic)
    settings: dict[str, Any] = {"backend": backend, "mode": mode, "dynamic": dynamic, **dict(opts.settings)}
    return torch_eager.TorchSession(compiled, opts.device, threads, settings, runtime="torch-compile")


RUNTIME = Runtime(name="torch-compile", accepts=frozenset({"torch"}), available=available, devices=devices,
                  load=load, doc="torch.compile of the native torch model (compiled during cold start)")
