"""Small helpers the runtime adapters share (kept free of heavy imports)."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any, Callable, Mapping, Sequence

from twinbench.core.errors import ConfigError
from twinbench.core.typed import build
from twinbench.exporters import native


def missing(*modules: str) -> str | None:
    """'X not installed' for the first module that cannot be found, else None (imports nothing)."""
    for mod in modules:
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{mod} not installed"
    return None


def only_input(feeds: Mapping[str, Any]) -> Any:
    """Twins take one input ("tokens"); adapters accept any single name."""
    if len(feeds) != 1:
        raise ConfigError(f"feeds: expected exactly one input, got {sorted(feeds)}")
    return next(iter(feeds.values()))


def feed_list(feeds: Mapping[str, Any], names: Sequence[str]) -> list[Any]:
    """The value of each of a model's inputs `names`, in order. A one-input model takes the one
    feed whatever its name (twins feed "tokens", exporters may name it otherwise); a model with
    several inputs takes each by name, and a missing or unknown one is one ConfigError line."""
    if len(names) == 1 and len(feeds) == 1:
        return [next(iter(feeds.values()))]
    missing = [n for n in names if n not in feeds]
    extra = sorted(set(feeds) - set(names))
    if missing or extra:
        raise ConfigError(f"feeds: the model's inputs are {list(names)}; "
                          + (f"not given: {missing}" if missing else "") + ("; " if missing and extra else "")
                          + (f"not inputs of the model: {extra}" if extra else ""))
    return [feeds[n] for n in names]


def check_device(runtime: str, device: str, allowed: tuple[str, ...]) -> None:
    if device not in allowed:
        raise ConfigError(f"device {device!r} is not supported by runtime {runtime!r} (supported: {', '.join(allowed)})")


def settings(runtime: str, values: Mapping[str, Any], schema: type) -> Any:
    """The runtime's typed settings (unknown keys, wrong types and values are one ConfigError line,
    the same check the config made before the run)."""
    return build(schema, values, f"runtime_settings.{runtime}")


def load_native(kind: str, artifact: Any, run_dir: str) -> Any:
    """Rebuild a native model through the twin registry (exporters/native.py does the work)."""
    loader = native.load_torch if kind == "torch" else native.load_keras
    return loader(artifact, run_dir)


def first_output(result: Any) -> Any:
    """Models may return a tensor, a tuple/list, or a dict: the first output is the logits."""
    if isinstance(result, dict):
        return next(iter(result.values()))
    if isinstance(result, (tuple, list)):
        return result[0]
    return result


def gpu_absent() -> bool:
    """True when this machine surely has no NVIDIA GPU (no device nodes, no nvidia-smi): lets
    `devices()` answer without importing a framework for seconds."""
    import glob
    import shutil

    return not glob.glob("/dev/nvidia[0-9]*") and shutil.which("nvidia-smi") is None


def device_probe(available: Callable[[], str | None], has_cuda: Callable[[], bool]) -> Callable[[], list[str]]:
    """A runtime's cached `devices()`: none when unavailable, ["cpu"] without a GPU on the machine
    (no framework import), else asks the framework (`has_cuda`, which may import it) once."""

    @functools.lru_cache(maxsize=1)
    def devices() -> list[str]:
        if available():
            return []
        if gpu_absent():
            return ["cpu"]
        return ["cpu", "cuda"] if has_cuda() else ["cpu"]

    return devices
