"""`keras-eager`: `model(x, training=False)` called eagerly. Its own runtime: Keras 3's per-call
overhead is not TensorFlow's speed and is never labelled as such."""

from __future__ import annotations

from typing import Any

from twinbench.bench.runtimes import _tf, _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.exporters.artifact import Artifact

devices = _tf.devices


@register_runtime("keras-eager", accepts={"keras"}, available=_tf.available, devices=devices, settings=_tf.TfSettings,
                  doc="Keras 3 eager call model(x, training=False) (not TensorFlow graph speed)")
def load(artifact: Artifact, opts: LoadOptions) -> _tf.TfSession:
    s = _util.settings("keras-eager", opts.settings, _tf.TfSettings)
    model, threads, cpus = _tf.load_model(artifact, opts, "keras-eager", bind=s.bind_cpus)

    def infer(tokens: Any) -> Any:
        return model(tokens, training=False)

    return _tf.TfSession(infer, opts.device, threads, {**dict(opts.settings), "bind_cpus": s.bind_cpus}, cpus=cpus)

