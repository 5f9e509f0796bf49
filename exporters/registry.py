"""The exporter and variant registries: each is a plain function registered with a decorator in
its own module, and an exporter declares there the opset range it writes correctly.

    @register_exporter("torch-dynamo", opsets=(17, 23))
    def export(req: ExportRequest) -> Artifact: ...

    @register_variant("fp16")
    def fp16(base: Artifact, run_dir: Path) -> Artifact: ...

`twinbench.exporters` imports every module of its folder, so a new exporter or variant is one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from twinbench.core.errors import ConfigError
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


EXPORTERS: dict[str, Exporter] = {}
VARIANTS: dict[str, Variant] = {}


def _qualname(fn: Callable[..., object]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _claim(kind: str, name: str, registered: Callable[..., object] | None, fn: Callable[..., object]) -> None:
    """A name belongs to one function; re-importing the same module re-registers it harmlessly."""
    if registered is not None and _qualname(registered) != _qualname(fn):
        raise ConfigError(f"{kind} {name!r} is already registered by {_qualname(registered)}")


def register_exporter(name: str, *, opsets: tuple[int, int]) -> Callable[[ExportFn], ExportFn]:
    """Decorator: register `export(req) -> Artifact` under `name`, writing opsets lo..hi (inclusive)."""
    ok = (isinstance(opsets, tuple) and len(opsets) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in opsets)
          and opsets[0] <= opsets[1])
    if not ok:
        raise ConfigError(f"exporter {name!r}: opsets must be an inclusive range (lo, hi), got {opsets!r}")

    def deco(fn: ExportFn) -> ExportFn:
        existing = EXPORTERS.get(name)
        _claim("exporter", name, existing.export if existing else None, fn)
        EXPORTERS[name] = Exporter(name, opsets, fn, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def register_variant(name: str) -> Callable[[Variant], Variant]:
    """Decorator: register `variant(base_artifact, run_dir) -> Artifact` under `name`."""

    def deco(fn: Variant) -> Variant:
        _claim("variant", name, VARIANTS.get(name), fn)
        VARIANTS[name] = fn
        return fn

    return deco


def get_exporter(name: str) -> Exporter:
    """The exporter registered under `name`; ConfigError naming the known ones otherwise."""
    if name not in EXPORTERS:
        raise ConfigError(f"unknown exporter {name!r} (known: {', '.join(sorted(EXPORTERS))})")
    return EXPORTERS[name]


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ConfigError(f"unknown variant {name!r} (known: {', '.join(sorted(VARIANTS))})")
    return VARIANTS[name]


def check_opset(name: str, opset: int) -> None:
    """ConfigError when `opset` is outside what exporter `name` writes correctly."""
    lo, hi = get_exporter(name).opsets
    if isinstance(opset, bool) or not isinstance(opset, int) or not lo <= opset <= hi:
        raise ConfigError(f"opset: {opset!r} is not supported by exporter {name!r} (use {lo}..{hi})")
