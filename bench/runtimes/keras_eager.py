"""`keras-eager`: `model(x, training=False)` called eagerly. Its own runtime: Keras 3's per-call
overhead is not TensorFlow's speed and is never labelled as such."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twinbench.bench.runtimes import _tf, _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.exporters.artifact import Artifact

devices = _tf.devices


@dataclass(frozen=True)
class KerasEagerSettings:
    """TF32 on a GPU, and CPU binding: off here, since eager ops run in the calling thread and there
    is no hand-off to keep on one CPU (bench/runtimes/_tf.py), while a bound process could not move
    away from a CPU another job keeps busy."""

    allow_tf32: bool = False
    bind_cpus: bool = False


@register_runtime("keras-eager", accepts={"keras"}, available=_tf.available, devices=devices, settings=KerasEagerSettings,
                  doc="Keras 3 eager call model(x, training=False) (not TensorFlow graph speed)")
def load(artifact: Artifact, opts: LoadOptions) -> _tf.TfSession:
    s = _util.settings("keras-eager", opts.settings, KerasEagerSettings)
    model, threads, cpus = _tf.load_model(artifact, opts, "keras-eager", bind=s.bind_cpus)

    def infer(tokens: Any) -> Any:
        return model(tokens, training=False)

    return _tf.TfSession(infer, opts.device, threads, {**dict(opts.settings), "bind_cpus": s.bind_cpus}, cpus=cpus)

