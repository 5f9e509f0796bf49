"""TensorFlow/Keras plumbing shared by tf-function, keras-eager and keras-predict.

Why a TF worker binds itself to `threads` CPUs (`bind_cpus`, on by default): TensorFlow runs a
function's kernels on its inter-op pool thread (`tf_Compute`) while the calling Python thread
waits, so every call hands work to another thread and back (two wake-ups; per call about half the
CPU time in each thread). Where the scheduler places the two threads decides the call's cost: on
one CPU a hand-off is a context switch, across two vCPUs it is a cross-CPU wake-up, slower by a
variable amount, and with any other load on the machine a ms-scale wait. A fresh process gets one
placement or the other for its whole life, so process figures differed by up to 27% between
identical runs (docs/measurement.md has the evidence). Binding the process to `threads` CPUs
before TensorFlow starts its pools is what a TF user serving latency-bound single-stream inference
does (taskset / numactl): caller and pool threads share those CPUs and every process gets the same
placement. torch and ONNX Runtime run a single-threaded call in the caller's own thread and need
no binding, nor does keras-eager (its ops run in the calling thread; off by default there)."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TfSettings:
    """keras-predict: TF32 on a GPU (off: fp32 parity means fp32), and whether the worker binds
    itself to `threads` CPUs first (module docstring; `predict` runs a tf.function)."""

    allow_tf32: bool = False
    bind_cpus: bool = True


def _current_cpu() -> int | None:
    """The CPU this thread is running on now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/thread-self/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


#: The CPUs this process could use before `bind_cpus` (restored by `release_cpus`).
_UNBOUND: set[int] | None = None


def _set_all(cpus: Any) -> None:
    """Every thread of this process (threads started later inherit their starter's CPUs)."""
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # a thread that ended meanwhile
            pass


def bind_cpus(threads: int) -> list[int]:
    """Bind this process to `threads` of the CPUs it may use, starting with the one it runs on;
    the CPUs bound, [] where it did not (no affinity call here, or `threads` covers every allowed
    CPU anyway)."""
    global _UNBOUND
    if not hasattr(os, "sched_setaffinity"):
        return []
    allowed = sorted(_UNBOUND or os.sched_getaffinity(0))
    if threads >= len(allowed):
        return []
    here = _current_cpu()
    first = allowed.index(here) if here in allowed else 0
    cpus = [allowed[(first + i) % len(allowed)] for i in range(threads)]
    _UNBOUND = set(allowed)
    _set_all(cpus)
    return cpus


def release_cpus() -> None:
    """Undo `bind_cpus` (a cell run inside a longer-lived process, e.g. the in-process executor)."""
    global _UNBOUND
    if _UNBOUND is not None:
        _set_all(_UNBOUND)
        _UNBOUND = None


def tf_device(device: str) -> str:
    return "/GPU:0" if device == "cuda" else "/CPU:0"


def load_model(artifact: Artifact, opts: LoadOptions, runtime: str, *, bind: bool = True) -> tuple[Any, tuple[int, int], list[int]]:
    """(the Keras model, TF's (intra, inter) threads, the CPUs the process is bound to)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    _util.check_device(runtime, opts.device, ("cpu", "cuda"))
    cpus = bind_cpus(opts.threads) if bind else []  # before TensorFlow starts a thread
    threads = set_tf_threads(opts.threads)  # before anything else runs in TF
    import tensorflow as tf

    if opts.device == "cuda":
        # TF enables TF32 on Ampere+ by default; off unless asked, so fp32 parity means fp32.
        tf.config.experimental.enable_tensor_float_32_execution(bool(opts.settings.get("allow_tf32", False)))
    with tf.device(tf_device(opts.device)):
        model = _util.load_native("keras", artifact, opts.run_dir)
    return model, threads, cpus


class TfSession:
    """`fn(x)` on a device-resident tensor; `io_in_timing` says whether the call copies host data."""

    def __init__(self, fn: Callable[[Any], Any], device: str, threads: tuple[int, int],
                 settings: Mapping[str, Any], *, takes_numpy: bool = False, cpus: list[int] | None = None) -> None:
        import tensorflow as tf

        self._tf = tf
        self.fn = fn
        self.device = device
        self.threads = threads
        self.settings = dict(settings)
        self.takes_numpy = takes_numpy
        self.cpus = list(cpus or [])

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
                             "tensorflow": tf.__version__, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
                             "cpus": ",".join(str(c) for c in self.cpus) or "unbound"}
        if self.device == "cuda":
            d["allow_tf32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
            try:
                d["gpu_peak_bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
            except (ValueError, RuntimeError, KeyError):
                pass
        return d

    def close(self) -> None:
        self.fn = None
        if self.cpus:
            release_cpus()
