"""One registration style for every extension point (timm's `register_model`, generalised).

Twins, references, exporters, variants, runtimes, executors and stream hooks are each a
`Registry`: a plain function is registered with a decorator in its own module, looked up by name,
and listed. A registry that names a `package` discovers its built-ins from that folder on first
use (every module whose name does not start with "_"), so adding one is adding a file and no list
is kept by hand:

    TWINS = Registry("twin", package="twinbench.models.twins")

    @TWINS.register("lstm", configs=...)
    def lstm(**overrides) -> Twin: ...

    TWINS.get("lstm"); TWINS.names()

`make(name, fn, **meta)` turns what was decorated into the stored entry (an `Exporter` with its
opset range, a `Runtime` with its devices...), so each registry keeps its own entry type while the
decorator, the lookup, the error for an unknown name and the discovery are written once.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from types import ModuleType
from typing import Any, Callable, Generic, Iterator, TypeVar

from twinbench.core.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def import_package_modules(package: str) -> list[ModuleType]:
    """Import (once; later calls find them in sys.modules) every public module of `package`'s
    folder, in name order. Modules whose name starts with "_" are helpers, left to their users."""
    pkg = importlib.import_module(package)
    names = sorted({info.name for info in pkgutil.iter_modules(list(pkg.__path__)) if not info.name.startswith("_")})
    return [importlib.import_module(f"{package}.{name}") for name in names]


def qualname(fn: Any) -> str:
    """Where a registered object was defined (module.qualname): the same definition imported twice
    (a module re-run by discovery, a test re-importing it) may register again, another may not."""
    target = getattr(fn, "func", None) or getattr(fn, "__wrapped__", fn)  # functools.partial, wraps
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"


class Registry(Generic[T]):
    """Names -> entries of one kind. `register(name, **meta)` is the one decorator style."""

    def __init__(self, kind: str, *, package: str | None = None,
                 make: Callable[..., T] | None = None) -> None:
        self.kind = kind
        self.package = package
        self._make = make
        self._entries: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._discovered = package is None

    # registering ----------------------------------------------------------------------------------
    def register(self, name: str, *, replace: bool = False, **meta: Any) -> Callable[[F], F]:
        """Decorator: store `fn` (or `make(name, fn, **meta)`) under `name`; returns `fn` unchanged.
        A name belongs to one definition: another one under a taken name is a ConfigError unless
        `replace` (tests and users overriding a built-in on purpose)."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind}: a name must be a non-empty string, got {name!r}")

        def deco(fn: F) -> F:
            self.add(name, self._make(name, fn, **meta) if self._make else fn, origin=qualname(fn),
                     replace=replace)
            return fn

        return deco

    def add(self, name: str, entry: T, *, origin: str | None = None, replace: bool = False) -> T:
        """Store an already-made entry (what `register` does after `make`)."""
        origin = origin or qualname(entry)
        taken = self._origin.get(name)
        if taken is not None and taken != origin and not replace:
            raise ConfigError(f"{self.kind} {name!r} is already registered by {taken}")
        self._entries[name] = entry
        self._origin[name] = origin
        return entry

    def remove(self, name: str) -> None:
        """Forget `name` (tests that register a throw-away entry clean up with this)."""
        self._entries.pop(name, None)
        self._origin.pop(name, None)

    @contextlib.contextmanager
    def scoped(self) -> Iterator["Registry[T]"]:
        """Whatever is registered inside the block is forgotten after it (tests)."""
        self.discover()
        saved = dict(self._entries), dict(self._origin)
        try:
            yield self
        finally:
            self._entries, self._origin = saved

    # looking up -----------------------------------------------------------------------------------
    def discover(self, *, rescan: bool = False) -> list[str]:
        """Import every public module of the registry's package (once, or again with `rescan` to
        pick up files added since); returns the names known."""
        if self.package is not None and (rescan or not self._discovered):
            self._discovered = True
            import_package_modules(self.package)
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The entry under `name`; a ConfigError naming the known ones otherwise."""
        self.discover()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def find(self, name: str) -> T | None:
        """The entry under `name`, or None."""
        self.discover()
        return self._entries.get(name)

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

