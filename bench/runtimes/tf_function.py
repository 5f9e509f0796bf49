"""`tf-function`: the Keras model traced once into a tf.function with a fixed input signature:
the fair native TensorFlow runtime (Keras eager and predict carry large per-call overheads)."""

from __future__ import annotations

from typing import Any

from twinbench.bench.runtimes import _tf, _util
from twinbench.bench.runtimes.base import LoadOptions, Runtime
from twinbench.exporters.artifact import Artifact

SETTINGS = ("jit_compile", "allow_tf32")


devices = _tf.devices


def load(artifact: Artifact, opts: LoadOptions) -> _tf.TfSession:
    _util.check_settings("tf-function", opts.settings, SETTINGS)
    model, threads = _tf.load_model(artifact, opts, "tf-function")
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else (None, None)
    jit = bool(opts.settings.get("jit_compile", False))
    spec = tf.TensorSpec(shape=(None,) + tuple(shape[1:]), dtype=tf.int64, name="tokens")

    @tf.function(input_signature=[spec], jit_compile=jit, reduce_retracing=True)
    def infer(tokens: Any) -> Any:
        return model(tokens, training=False)

    settings = {**dict(opts.settings), "jit_compile": jit}
    return _tf.TfSession(infer, opts.device, threads, settings)


RUNTIME = Runtime(name="tf-function", accepts=frozenset({"keras"}), available=_tf.available, devices=devices,
                  load=load, doc="TensorFlow tf.function of the Keras model (optional XLA: jit_compile)")
