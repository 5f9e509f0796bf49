"""Built-in twins: every module in this folder whose name does not start with "_" registers its
twins when imported, and importing this package imports them all. Adding a twin is adding a file."""

from __future__ import annotations

from twinbench.core.discovery import import_modules


def discover() -> list[str]:
    """Import each twin module on this package's path (idempotent); returns their short names."""
    return [m.__name__.rpartition(".")[2] for m in import_modules(__name__, __path__)]


discover()
