"""`tf-function`: the Keras model traced once into a tf.function with a fixed input signature:
the fair native TensorFlow runtime (Keras eager and predict carry large per-call overheads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twinbench.bench.runtimes import _tf, _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.exporters.artifact import Artifact



@dataclass(frozen=True)
class TfFunctionSettings:
    jit_compile: bool = False  # XLA
    allow_tf32: bool = False
    bind_cpus: bool = True  # bind the worker to `threads` CPUs before TF starts its pools (_tf.py says why)


devices = _tf.devices


@register_runtime("tf-function", accepts={"keras"}, available=_tf.available, devices=devices,
                  settings=TfFunctionSettings, doc="TensorFlow tf.function of the Keras model (optional XLA: jit_compile)")
def load(artifact: Artifact, opts: LoadOptions) -> _tf.TfSession:
    s = _util.settings("tf-function", opts.settings, TfFunctionSettings)
    model, threads, cpus = _tf.load_model(artifact, opts, "tf-function", bind=s.bind_cpus)
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else (None, None)
    jit = s.jit_compile
    spec = tf.TensorSpec(shape=(None,) + tuple(shape[1:]), dtype=tf.int64, name="tokens")

    @tf.function(input_signature=[spec], jit_compile=jit, reduce_retracing=True)
    def infer(tokens: Any) -> Any:
        return model(tokens, training=False)

    settings = {**dict(opts.settings), "jit_compile": jit, "bind_cpus": s.bind_cpus}
    return _tf.TfSession(infer, opts.device, threads, settings, cpus=cpus)

