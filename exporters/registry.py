"""The exporter and variant registries: each is a plain function registered with a decorator in
its own module, and an exporter declares there the opset range it writes correctly.

    @register_exporter("torch-dynamo", opsets=(17, 23))
    def export(req: ExportRequest) -> Artifact: ...

    @register_variant("fp16")
    def fp16(base: Artifact, run_dir: Path) -> Artifact: ...

The registries import every module of this folder on first use, so a new exporter or variant is one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from twinbench.core.errors import ConfigError
from twinbench.core.registry import Registry
from twinbench.exporters.artifact import Artifact

if TYPE_CHECKING:
    from twinbench.exporters.request import ExportRequest

ExportFn = Callable[["ExportRequest"], Artifact]
Variant = Callable[[Artifact, Path], Artifact]


@dataclass(frozen=True)
class Exporter:
    """A registered exporter: call it with an ExportRequest. The opset is checked against the
    exporter's own inclusive range before its function runs."""

    name: str
    opsets: tuple[int, int]
    export: ExportFn
    doc: str = ""

    def __call__(self, req: "ExportRequest") -> Artifact:
        check_opset(self.name, req.opset)
        return self.export(req)


def _exporter(name: str, fn: ExportFn, *, opsets: tuple[int, int]) -> Exporter:
    ok = (isinstance(opsets, tuple) and len(opsets) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in opsets)
          and opsets[0] <= opsets[1])
    if not ok:
        raise ConfigError(f"exporter {name!r}: opsets must be an inclusive range (lo, hi), got {opsets!r}")
    return Exporter(name, opsets, fn, (fn.__doc__ or "").strip().split("\n")[0])


#: Exporters and variants: one module each in this folder, discovered on first use.
EXPORTERS: Registry[Exporter] = Registry("exporter", package="twinbench.exporters", make=_exporter)
VARIANTS: Registry[Variant] = Registry("variant", package="twinbench.exporters")


def register_exporter(name: str, *, opsets: tuple[int, int]) -> Callable[[ExportFn], ExportFn]:
    """Decorator: register `export(req) -> Artifact` under `name`, writing opsets lo..hi (inclusive)."""
    _exporter(name, lambda req: req, opsets=opsets)  # a bad range is the registrant's error, at once
    return EXPORTERS.register(name, opsets=opsets)


def register_variant(name: str) -> Callable[[Variant], Variant]:
    """Decorator: register `variant(base_artifact, run_dir) -> Artifact` under `name`."""
    return VARIANTS.register(name)


def get_exporter(name: str) -> Exporter:
    """The exporter registered under `name`; ConfigError naming the known ones otherwise."""
    return EXPORTERS.get(name)


def get_variant(name: str) -> Variant:
    return VARIANTS.get(name)


def check_opset(name: str, opset: int) -> None:
    """ConfigError when `opset` is outside what exporter `name` writes correctly."""
    lo, hi = get_exporter(name).opsets
    if isinstance(opset, bool) or not isinstance(opset, int) or not lo <= opset <= hi:
        raise ConfigError(f"opset: {opset!r} is not supported by exporter {name!r} (use {lo}..{hi})")
