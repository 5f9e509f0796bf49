"""The twin registry: a twin is a plain factory function decorated with `@register_twin`.

A factory takes keyword overrides of its config fields and returns a frozen `Twin`. Tests are
parametrized from `list_twins()`, so a twin is tested the moment it is registered.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from twinbench.errors import ConfigError

if TYPE_CHECKING:  # heavy frameworks are imported lazily by the builders themselves
    import keras
    import torch

Task = Literal["classify", "tag"]

#: Every twin takes token ids under this input name and returns logits under this output name.
INPUT_NAME = "tokens"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class Twin:
    """One model written twice. Input: int64 token ids [batch, seq]. Output: float32 logits,
    [batch, classes] for `classify` or [batch, seq, tags] for `tag`.

    `config` is a frozen dataclass validated in its own `__post_init__` (no side effects) and
    must carry `vocab_size: int`. `fixed_length` is set for twins that only accept one sequence
    length (the MLP's Flatten). The four functions must not depend on global state.
    """

    name: str
    config: Any
    build_torch: Callable[[Any], "torch.nn.Module"]
    build_keras: Callable[[Any], "keras.Model"]
    torch_to_keras: Callable[["torch.nn.Module", "keras.Model"], None]
    keras_to_torch: Callable[["keras.Model", "torch.nn.Module"], None]
    task: Task = "classify"
    fixed_length: int | None = None
    doc: str = ""

    @property
    def num_outputs(self) -> int:
        """Classes (classify) or tags (tag): the size of the last logits axis."""
        for field in ("num_classes", "num_tags", "classes", "tags"):
            if hasattr(self.config, field):
                return int(getattr(self.config, field))
        raise AttributeError(f"twin {self.name!r} config has no num_classes/num_tags field")

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


TwinFactory = Callable[..., Twin]
_REGISTRY: dict[str, TwinFactory] = {}
_BUILTINS_LOADED = False


def register_twin(name: str) -> Callable[[TwinFactory], TwinFactory]:
    """Decorator: register `factory(**overrides) -> Twin` under `name` (users use it too)."""

    def deco(factory: TwinFactory) -> TwinFactory:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not factory and _qualname(existing) != _qualname(factory):
            raise ConfigError(f"twin {name!r} is already registered by {_qualname(existing)}")
        _REGISTRY[name] = factory
        return factory

    return deco


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("twinbench.models.twins")


def list_twins() -> list[str]:
    """Names of every registered twin, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_twin(name: str, **overrides: Any) -> Twin:
    """Build the named twin with config overrides; unknown names or fields raise ConfigError."""
    _load_builtins()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(f"unknown twin {name!r} (known: {known})")
    try:
        twin = _REGISTRY[name](**overrides)
    except TypeError as exc:
        raise ConfigError(f"twin {name!r}: bad config override ({exc})") from None
    except ValueError as exc:
        raise ConfigError(f"twin {name!r}: {exc}") from None
    if not isinstance(twin, Twin):
        raise ConfigError(f"twin factory {name!r} returned {type(twin).__name__}, not Twin")
    return twin


def load_twin_module(spec: str) -> None:
    """Import a user module that registers twins: a dotted module name or a path to a .py file."""
    _load_builtins()
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ConfigError(f"twin module {spec!r}: no such file")
        mod_name = f"twinbench_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
        if mod_name in sys.modules:
            return
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"twin module {spec!r}: cannot be imported")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # a user's module may fail in any way: report it in one line
            del sys.modules[mod_name]
            raise ConfigError(f"twin module {spec!r} failed to import: {type(exc).__name__}: {exc}") from None
        return
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"twin module {spec!r} cannot be imported: {exc}") from None
