"""twinbench.exporters: model -> ONNX. A registry of plain functions `(ExportRequest) -> Artifact`.

Three exporters ship: "torch-dynamo" (torch.export + onnxscript), "torch-script" (the TorchScript
tracer) and "tf2onnx" (Keras through a tf.function). Every ONNX file they write has input "tokens"
(int64, axes "batch" and "seq") and output "logits", passes the ONNX checker, and carries a sidecar.
Frameworks are imported inside the exporters, so importing this package stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from twinbench.errors import ConfigError, ExportError, one_line
from twinbench.exporters.artifact import Artifact

if TYPE_CHECKING:
    from twinbench.models.registry import Twin

#: The opset every exporter can write (tf2onnx 1.17 stops at 18, the dynamo exporter starts at 17).
DEFAULT_OPSET = 18

#: Inclusive opset range each exporter is known to write correctly (checked with the pinned versions).
SUPPORTED_OPSETS: dict[str, tuple[int, int]] = {
    "torch-dynamo": (17, 23),
    "torch-script": (9, 20),
    "tf2onnx": (13, 18),
}


@dataclass(frozen=True)
class ExportRequest:
    """Everything an exporter needs. `out_dir` is the twin's artifacts folder inside `run_dir`;
    the example batch/seq only shape the trace (axes stay dynamic, except a fixed_length twin's seq)."""

    twin: "Twin"
    torch_model: Any
    keras_model: Any
    out_dir: Path
    run_dir: Path
    opset: int = DEFAULT_OPSET
    example_batch: int = 2
    example_seq: int = 8

    def __post_init__(self) -> None:
        if isinstance(self.opset, bool) or not isinstance(self.opset, int):
            raise ConfigError(f"opset: must be an integer, got {self.opset!r}")
        if isinstance(self.example_batch, bool) or not isinstance(self.example_batch, int) or self.example_batch < 2:
            # batch 1 lets tracers treat the batch axis as a constant
            raise ConfigError(f"example_batch: must be an integer >= 2, got {self.example_batch!r}")
        if isinstance(self.example_seq, bool) or not isinstance(self.example_seq, int) or self.example_seq < 2:
            raise ConfigError(f"example_seq: must be an integer >= 2, got {self.example_seq!r}")

    @property
    def seq(self) -> int:
        """The sequence length to trace with: the twin's fixed length where it has one."""
        return int(self.twin.fixed_length or self.example_seq)


@dataclass(frozen=True)
class ExportFailure:
    """An exporter that failed: recorded in the run instead of stopping it."""

    name: str
    error: str


Exporter = Callable[[ExportRequest], Artifact]


def _torch_dynamo(req: ExportRequest) -> Artifact:
    from twinbench.exporters.torch_dynamo import export

    return export(req)


def _torch_script(req: ExportRequest) -> Artifact:
    from twinbench.exporters.torch_script import export

    return export(req)


def _tf2onnx(req: ExportRequest) -> Artifact:
    from twinbench.exporters.tf2onnx_export import export

    return export(req)


EXPORTERS: dict[str, Exporter] = {
    "torch-dynamo": _torch_dynamo,
    "torch-script": _torch_script,
    "tf2onnx": _tf2onnx,
}


def get_exporter(name: str) -> Exporter:
    """The exporter registered under `name`; ConfigError naming the known ones otherwise."""
    if name not in EXPORTERS:
        raise ConfigError(f"unknown exporter {name!r} (known: {', '.join(sorted(EXPORTERS))})")
    return EXPORTERS[name]


def check_opset(name: str, opset: int) -> None:
    """ConfigError when `opset` is outside what exporter `name` writes correctly."""
    lo, hi = SUPPORTED_OPSETS.get(name, (7, 23))
    if isinstance(opset, bool) or not isinstance(opset, int) or not lo <= opset <= hi:
        raise ConfigError(f"opset: {opset!r} is not supported by exporter {name!r} (use {lo}..{hi})")


def export_all(req: ExportRequest, names: list[str] | tuple[str, ...]) -> list[Artifact | ExportFailure]:
    """Run each named exporter; a failing one becomes an ExportFailure so the others still run.

    Bad configuration (unknown name, unsupported opset) is checked for all names first and raised,
    because it is the user's input and no export result would be meaningful.
    """
    for name in names:
        get_exporter(name)
        check_opset(name, req.opset)
    results: list[Artifact | ExportFailure] = []
    for name in names:
        try:
            results.append(EXPORTERS[name](req))
        except ConfigError:
            raise
        except ExportError as exc:
            results.append(ExportFailure(name, str(exc)))
        except Exception as exc:  # an exporter may fail in any way; the run records it and goes on
            results.append(ExportFailure(name, one_line(exc)))
    return results


__all__ = [
    "DEFAULT_OPSET", "EXPORTERS", "SUPPORTED_OPSETS", "Artifact", "ExportFailure", "ExportRequest",
    "Exporter", "check_opset", "export_all", "get_exporter",
]
