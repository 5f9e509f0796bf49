"""`twinbench list`: what this installation can do here (twins with their configs, exporters,
variants, runtimes with their devices), and why anything (a twin, a runtime) is unavailable.

`listing` is the Python API's; `main` is the command line's body."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from twinbench.bench.runtimes import list_runtimes
from twinbench.core.console import make_console
from twinbench.core.typed import to_plain
from twinbench.exporters import EXPORTERS
from twinbench.exporters.variants import VARIANTS
from twinbench.models.registry import get_twin, list_twins, load_twin_module, unavailable_twins
from twinbench.summary import Answer


@dataclass(frozen=True)
class Listing:
    twins: list[dict[str, Any]] = field(default_factory=list)  # name, task, config
    unavailable_twins: dict[str, str] = field(default_factory=dict)  # name -> why
    exporters: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    runtimes: list[dict[str, Any]] = field(default_factory=list)  # name, devices, available, reason


def listing(twin_modules: Sequence[str] = ()) -> Listing:
    """Everything registered here (after importing `twin_modules`), each runtime with why it is unavailable."""
    for mod in twin_modules:
        load_twin_module(mod)
    twins = []
    for name in list_twins():
        twin = get_twin(name)
        config = {f.name: to_plain(getattr(twin.config, f.name)) for f in dataclasses.fields(twin.config)}
        twins.append({"name": name, "task": twin.task, "config": config})
    runtimes = [{"name": name, "devices": list(devices), "available": reason is None, "reason": reason}
                for name, devices, reason in list_runtimes()]
    return Listing(twins, dict(unavailable_twins()), list(EXPORTERS), list(VARIANTS), runtimes)


def _config_text(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


def show(found: Listing) -> None:
    from rich.table import Table

    console = make_console()  # full width in a pipe: no cut cells
    twins = Table("twin", "task", "config", title="Twins", show_lines=True)
    for twin in found.twins:
        twins.add_row(twin["name"], twin["task"], _config_text(twin["config"]))
    for name, reason in found.unavailable_twins.items():  # a library it is built from is missing
        twins.add_row(name, "-", f"unavailable: {reason}")
    console.print(twins)
    console.print("Exporters: " + ", ".join(found.exporters))
    console.print("Variants:  " + ", ".join(found.variants))
    runtimes = Table("runtime", "devices", "status", title="Runtimes")
    for rt in found.runtimes:
        runtimes.add_row(rt["name"], ", ".join(rt["devices"]) or "-",
                         "available" if rt["available"] else f"skipped: {rt['reason']}")
    console.print(runtimes)


def main(*, twin_modules: Sequence[str] = ()) -> Answer:
    found = listing(twin_modules)
    return Answer(0, dataclasses.asdict(found), lambda: show(found))
