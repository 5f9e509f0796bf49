"""Exporter "torch-script": the TorchScript tracer (`torch.onnx.export(..., dynamo=False)`).

It warns that an LSTM traced at batch > 1 may misbehave at other batch sizes; the warnings are kept
in the sidecar and the tests run the file at several batch sizes against torch.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING

from twinbench.exporters.finalize import export_error, finish_onnx
from twinbench.exporters.registry import register_exporter
from twinbench.exporters.native import library_versions, torch_weights_hash
from twinbench.exporters.torch_dynamo import example_tokens
from twinbench.models.registry import INPUT_NAME, OUTPUT_NAME

if TYPE_CHECKING:
    from twinbench.exporters import ExportRequest
    from twinbench.exporters.artifact import Artifact

NAME = "torch-script"


@register_exporter(NAME, opsets=(9, 20))  # checked with the pinned versions
def export(req: "ExportRequest") -> "Artifact":
    """The TorchScript tracer (dynamo=False)."""
    import torch

    path = req.onnx_path(NAME)
    model = req.torch_model.eval()
    in_axes = {0: "batch"} if req.twin.fixed_length else {0: "batch", 1: "seq"}
    out_axes = {0: "batch", 1: "seq"} if req.twin.task == "tag" and not req.twin.fixed_length else {0: "batch"}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.onnx.export(model, (example_tokens(req),), str(path), dynamo=False,
                              opset_version=req.opset, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: in_axes, OUTPUT_NAME: out_axes})
    except Exception as exc:
        raise export_error(NAME, req.twin.name, exc) from None
    seconds = time.perf_counter() - t0
    notes = sorted({str(w.message).strip().splitlines()[0][:200] for w in caught
                    if issubclass(w.category, UserWarning) and str(w.message).strip()})
    return finish_onnx(req, NAME, path, source="torch", seconds=seconds,
                       weights_hash=torch_weights_hash(model),
                       versions=library_versions("torch", "onnx"), extra={"warnings": notes})
