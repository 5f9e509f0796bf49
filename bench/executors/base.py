"""The executor seam: a Protocol, and the registry of executor factories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol

from twinbench.core.registry import Registry
from twinbench.core.typed import build, number

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


ExecutorFactory = Callable[[Any], Executor]


@dataclass(frozen=True)
class CommonOptions:
    """Options every executor takes: the wall-clock bound of one cell."""

    timeout_s: float = number(300.0, gt=0, le=7 * 24 * 3600)


@dataclass(frozen=True)
class ExecutorEntry:
    """A registered executor: its factory and the schema of its `[executor]` options."""

    factory: ExecutorFactory
    options: type


def _entry(name: str, factory: ExecutorFactory, *, options: type = CommonOptions) -> ExecutorEntry:
    return ExecutorEntry(factory, options)


#: Executors, one module each in this folder (local, inprocess, ray, ...), discovered on first use.
EXECUTORS: Registry[ExecutorEntry] = Registry("executor", package="twinbench.bench.executors", make=_entry)


def register_executor(name: str, *, options: type = CommonOptions) -> Callable[[ExecutorFactory], ExecutorFactory]:
    """Decorator: register `factory(options) -> Executor` under `name`; `options` is the frozen
    dataclass its `[executor]` table must fit (checked with the config, before any training)."""
    return EXECUTORS.register(name, options=options)


def executor_options(name: str, values: Mapping[str, Any] | None = None) -> Any:
    """The typed options of executor `name` from a mapping: one ConfigError line when a value is bad."""
    return build(EXECUTORS.get(name).options, values or {}, f"executor ({name})")


def get_executor(name: str = "local", options: Any = None, **values: Any) -> Executor:
    """A new executor of the named kind, from typed `options` or keyword values; unknown names are a
    ConfigError listing the known ones."""
    entry = EXECUTORS.get(name)
    return entry.factory(options if options is not None else executor_options(name, values))


def expand_cells(executor: Any, specs: Any) -> list["CellSpec"]:
    """The cells `executor` will really run (its optional `expand`; the specs themselves otherwise).
    Callers that pair rows with specs (repeats) expand first; expanding again changes nothing."""
    expand = getattr(executor, "expand", None)
    return list(expand(specs)) if expand is not None else list(specs)
