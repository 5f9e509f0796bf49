"""twinbench.exporters: model -> ONNX. A registry of plain functions `(ExportRequest) -> Artifact`.

Three exporters ship: "torch-dynamo" (torch.export + onnxscript), "torch-script" (the TorchScript
tracer) and "tf2onnx" (Keras through a tf.function), each registered in its own module with
`@register_exporter(name, opsets=(lo, hi))`; variants ("ort-opt", "fp16", "int8") register with
`@register_variant`. The registries import every module of this folder on first use, so adding one
is adding a file.
Every ONNX file an exporter writes has input "tokens" (int64, axes "batch" and "seq") and output
"logits", passes the ONNX checker, and carries a sidecar. Frameworks are imported inside the
exporters, so importing this package stays cheap.
"""

from __future__ import annotations

from twinbench.core.errors import ConfigError, ExportError, one_line
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.registry import (EXPORTERS, VARIANTS, Exporter, Variant, check_opset, get_exporter,
                                          get_variant, register_exporter, register_variant)
from twinbench.exporters.request import DEFAULT_OPSET, ExportFailure, ExportRequest


def export_all(req: ExportRequest, names: list[str] | tuple[str, ...]) -> list[Artifact | ExportFailure]:
    """Run each named exporter; a failing one becomes an ExportFailure so the others still run.

    Bad configuration (unknown name, unsupported opset) is checked for all names first and raised,
    because it is the user's input and no export result would be meaningful.
    """
    for name in names:
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
    "DEFAULT_OPSET", "EXPORTERS", "VARIANTS", "Artifact", "ExportFailure", "ExportRequest", "Exporter",
    "Variant", "check_opset", "export_all", "get_exporter", "get_variant", "register_exporter",
    "register_variant",
]
