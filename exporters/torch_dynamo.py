"""Exporter "torch-dynamo": torch.export + onnxscript (`torch.onnx.export(..., dynamo=True)`)."""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

from twinbench.exporters.finalize import export_error, finish_onnx
from twinbench.exporters.registry import register_exporter
from twinbench.exporters.native import library_versions, torch_weights_hash
from twinbench.models.registry import INPUT_NAME, OUTPUT_NAME

if TYPE_CHECKING:
    from twinbench.exporters import ExportRequest
    from twinbench.exporters.artifact import Artifact

NAME = "torch-dynamo"


def example_tokens(req: "ExportRequest") -> Any:
    """Token ids that avoid PAD/UNK, so no tracer sees an all-padding special case."""
    import torch

    gen = torch.Generator().manual_seed(0)
    vocab = int(req.twin.config.vocab_size)
    return torch.randint(min(2, vocab - 1), vocab, (req.example_batch, req.seq), generator=gen, dtype=torch.int64)


def forward_arg(model: Any) -> str:
    """Name of forward's first argument: dynamic_shapes is keyed by it."""
    params = [p for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return params[0].name if params else "tokens"


def _reset_rnn_dispatch_cache() -> None:
    """torch 2.13 caches the dispatch of aten.lstm/gru after the first export, so the while-loop
    decomposition the exporter installs is skipped on the 2nd export in a process and `seq` is
    silently specialised. Clearing the cache makes every export behave like the first."""
    import torch

    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input, torch.ops.aten.rnn_tanh.input,
               torch.ops.aten.rnn_relu.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()


@register_exporter(NAME, opsets=(17, 23))  # checked with the pinned versions
def export(req: "ExportRequest") -> "Artifact":
    """Torch.export + onnxscript (dynamo=True)."""
    import torch

    path = req.onnx_path(NAME)
    model = req.torch_model.eval()
    x = example_tokens(req)
    axes = {0: torch.export.Dim("batch")}
    if not req.twin.fixed_length:
        axes[1] = torch.export.Dim("seq")
    _reset_rnn_dispatch_cache()
    # "torchvision is not installed. Skipping torchvision::nms" x4 per export: noise, not a finding.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=req.opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes={forward_arg(model): axes}, external_data=False,
                              verbose=False)
    except Exception as exc:
        raise export_error(NAME, req.twin.name, exc) from None
    seconds = time.perf_counter() - t0
    return finish_onnx(req, NAME, path, source="torch", seconds=seconds,
                       weights_hash=torch_weights_hash(model),
                       versions=library_versions("torch", "onnx", "onnxscript"))
