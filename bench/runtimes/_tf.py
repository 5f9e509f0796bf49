"""TensorFlow/Keras plumbing shared by tf-function, keras-eager and keras-predict."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np

from twinbench.bench.runtimes import _util
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.exporters.artifact import Artifact
from twinbench.core.threads import set_tf_threads


def available() -> str | None:
    return _util.missing("tensorflow", "keras")


def _has_cuda() -> bool:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


devices = _util.device_probe(available, _has_cuda)


def tf_device(device: str) -> str:
    return "/GPU:0" if device == "cuda" else "/CPU:0"


def load_model(artifact: Artifact, opts: LoadOptions, runtime: str) -> tuple[Any, tuple[int, int]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    _util.check_device(runtime, opts.device, ("cpu", "cuda"))
    threads = set_tf_threads(opts.threads)  # before anything else runs in TF
    import tensorflow as tf

    if opts.device == "cuda":
        # TF enables TF32 on Ampere+ by default; off unless asked, so fp32 parity means fp32.
        tf.config.experimental.enable_tensor_float_32_execution(bool(opts.settings.get("allow_tf32", False)))
    with tf.device(tf_device(opts.device)):
        model = _util.load_native("keras", artifact, opts.run_dir)
    return model, threads


class TfSession:
    """`fn(x)` on a device-resident tensor; `io_in_timing` says whether the call copies host data."""

    def __init__(self, fn: Callable[[Any], Any], device: str, threads: tuple[int, int],
                 settings: Mapping[str, Any], *, takes_numpy: bool = False) -> None:
        import tensorflow as tf

        self._tf = tf
        self.fn = fn
        self.device = device
        self.threads = threads
        self.settings = dict(settings)
        self.takes_numpy = takes_numpy

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]:
        x_np = np.ascontiguousarray(_util.only_input(feeds), dtype=np.int64)
        fn = self.fn
        if self.takes_numpy:
            return lambda: fn(x_np)
        with self._tf.device(tf_device(self.device)):
            x = self._tf.identity(self._tf.constant(x_np))
        return lambda: fn(x)

    def fetch(self, result: Any) -> list[np.ndarray]:
        out = _util.first_output(result)
        return [np.asarray(out.numpy() if hasattr(out, "numpy") else out, dtype=np.float32)]

    def sync(self) -> None:
        if self.device == "cuda":
            sync = getattr(getattr(self._tf.test, "experimental", None), "sync_devices", None)
            if sync is not None:
                sync()

    def info(self) -> dict[str, Any]:
        tf = self._tf
        d: dict[str, Any] = {**self.settings, "intra_op_threads": self.threads[0],
                             "inter_op_threads": self.threads[1], "io_in_timing": self.takes_numpy,
                             "tensorflow": tf.__version__, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}
        if self.device == "cuda":
            d["allow_tf32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
            try:
                d["gpu_peak_bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
            except (ValueError, RuntimeError, KeyError):
                pass
        return d

    def close(self) -> None:
        self.fn = None
