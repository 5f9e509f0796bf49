"""`twinbench list`: what this installation can do here, and why anything (a twin, a runtime) is unavailable."""

from __future__ import annotations

from typing import Any
from twinbench.bench.runtimes import list_runtimes
from twinbench.core.console import make_console
from twinbench.exporters import EXPORTERS
from twinbench.exporters.variants import VARIANTS
from twinbench.models.registry import get_twin, list_twins, load_twin_module, unavailable_twins


def _config_text(config: Any) -> str:
    import dataclasses

    return ", ".join(f"{f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config))


def print_listing(twin_modules: list[str]) -> None:
    from rich.table import Table

    for mod in twin_modules:
        load_twin_module(mod)
    console = make_console()  # full width in a pipe: no cut cells
    twins = Table("twin", "task", "config", title="Twins", show_lines=True)
    for name in list_twins():
        twin = get_twin(name)
        twins.add_row(name, twin.task, _config_text(twin.config))
    for name, reason in unavailable_twins().items():  # a library it is built from is missing
        twins.add_row(name, "-", f"unavailable: {reason}")
    console.print(twins)
    console.print("Exporters: " + ", ".join(EXPORTERS))
    console.print("Variants:  " + ", ".join(VARIANTS))
    runtimes = Table("runtime", "devices", "status", title="Runtimes")
    for name, devices, reason in list_runtimes():
        runtimes.add_row(name, ", ".join(devices) or "-", "available" if reason is None else f"skipped: {reason}")
    console.print(runtimes)
