"""Exporter "tf2onnx": Keras 3 -> tf.function -> ONNX.

`tf2onnx.convert.from_keras` fails on Keras 3, so the model is wrapped in a tf.function with an
int64 input signature and converted with `from_function` (Keras LSTMs become fused ONNX LSTMs).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from twinbench.exporters.finalize import export_error, finish_onnx
from twinbench.exporters.registry import register_exporter
from twinbench.exporters.native import keras_weights_hash, library_versions
from twinbench.models.registry import INPUT_NAME

if TYPE_CHECKING:
    from twinbench.exporters import ExportRequest
    from twinbench.exporters.artifact import Artifact

NAME = "tf2onnx"


@register_exporter(NAME, opsets=(13, 18))  # checked with the pinned versions
def export(req: "ExportRequest") -> "Artifact":
    """Keras 3 through a tf.function, converted by tf2onnx."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx

    path = req.onnx_path(NAME)
    model = req.keras_model
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    sig = [tf.TensorSpec([None, req.twin.fixed_length], tf.int64, name=INPUT_NAME)]
    fn = tf.function(lambda tokens: model(tokens, training=False), input_signature=sig)
    t0 = time.perf_counter()
    try:
        tf2onnx.convert.from_function(fn, input_signature=sig, opset=req.opset, output_path=str(path))
    except Exception as exc:
        raise export_error(NAME, req.twin.name, exc) from None
    seconds = time.perf_counter() - t0
    return finish_onnx(req, NAME, path, source="keras", seconds=seconds,
                       weights_hash=keras_weights_hash(model),
                       versions=library_versions("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx"))
