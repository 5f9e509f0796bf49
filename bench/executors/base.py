"""The executor seam: a Protocol, and the registry of executor factories."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from twinbench.core.errors import ConfigError

if TYPE_CHECKING:
    from twinbench.bench.cells import CellSpec


class Executor(Protocol):
    """Runs cells somewhere. `submit` queues a cell; `results` yields `(spec, row)` for every
    submitted cell exactly once, as each ends (order may differ from submission), after the
    cell's files are in the run directory. A cell's failure is a `failed` row, never an exception.
    Two timed cells must never run at once on one machine.

    Optional: `expand(specs) -> list[CellSpec]`, called by the runner before any `submit`, lets an
    executor turn one cell into several (the Ray executor's copy per kind of machine)."""

    name: str

    def submit(self, spec: "CellSpec") -> None: ...

    def results(self) -> Iterator[tuple["CellSpec", dict[str, Any]]]: ...

    def close(self) -> None: ...


ExecutorFactory = Callable[..., Executor]
EXECUTORS: dict[str, ExecutorFactory] = {}
#: Built-in executors live in modules of this package, imported on first use.
_BUILTIN_MODULES = {"local": "local", "inprocess": "inprocess", "ray": "ray"}


def register_executor(name: str) -> Callable[[ExecutorFactory], ExecutorFactory]:
    """Decorator: register `factory(**options) -> Executor` under `name`."""

    def deco(factory: ExecutorFactory) -> ExecutorFactory:
        EXECUTORS[name] = factory
        return factory

    return deco


def get_executor(name: str = "local", **options: Any) -> Executor:
    """A new executor of the named kind; unknown names are a ConfigError listing the known ones."""
    module = _BUILTIN_MODULES.get(name)
    if name not in EXECUTORS and module is not None:
        importlib.import_module(f"twinbench.bench.executors.{module}")
    if name not in EXECUTORS:
        known = sorted(set(EXECUTORS) | set(_BUILTIN_MODULES))
        raise ConfigError(f"executor: unknown {name!r} (known: {', '.join(known)})")
    return EXECUTORS[name](**options)


def expand_cells(executor: Any, specs: Any) -> list["CellSpec"]:
    """The cells `executor` will really run (its optional `expand`; the specs themselves otherwise).
    Callers that pair rows with specs (repeats) expand first; expanding again changes nothing."""
    expand = getattr(executor, "expand", None)
    return list(expand(specs)) if expand is not None else list(specs)


def known_executors() -> list[str]:
    return sorted(set(EXECUTORS) | set(_BUILTIN_MODULES))
