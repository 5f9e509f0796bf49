"""Find the plug-in modules of a folder: built-in twins, runtimes and exporters are each one file in
their folder, and the folder's package imports them all with `import_modules`, so adding one needs
no list to edit. Modules whose name starts with "_" are helpers and are left to their users."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Iterable


def import_modules(package: str, path: Iterable[str]) -> list[ModuleType]:
    """Import (once; later calls find them in sys.modules) every public module found on `path`,
    the `__path__` of `package`, in name order; returns them."""
    names = sorted({info.name for info in pkgutil.iter_modules(list(path)) if not info.name.startswith("_")})
    return [importlib.import_module(f"{package}.{name}") for name in names]
