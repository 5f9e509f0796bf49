"""`keras-predict`: `model.predict(x)` on a host numpy array, as many users call it. The input
conversion and output copy are inside the timed call (io_in_timing is true)."""

from __future__ import annotations

from typing import Any

from twinbench.bench.runtimes import _tf, _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.exporters.artifact import Artifact

devices = _tf.devices


@register_runtime("keras-predict", accepts={"keras"}, available=_tf.available, devices=devices, settings=_tf.TfSettings,
                  doc="Keras 3 model.predict on numpy input (host copies inside the timing)")
def load(artifact: Artifact, opts: LoadOptions) -> _tf.TfSession:
    s = _util.settings("keras-predict", opts.settings, _tf.TfSettings)
    model, threads, cpus = _tf.load_model(artifact, opts, "keras-predict", bind=s.bind_cpus)
    import tensorflow as tf

    device = _tf.tf_device(opts.device)

    def infer(tokens: Any) -> Any:
        with tf.device(device):
            return model.predict(tokens, batch_size=max(1, len(tokens)), verbose=0)

    return _tf.TfSession(infer, opts.device, threads, {**dict(opts.settings), "bind_cpus": s.bind_cpus},
                         takes_numpy=True, cpus=cpus)

