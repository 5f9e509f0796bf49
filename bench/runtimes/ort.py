"""ONNX Runtime with one execution provider per registered runtime: `ort-cpu`, `ort-cuda`, `ort-trt`,
`ort-openvino`. One intra-op pool of `threads`, one inter-op thread, sequential execution.

On GPUs inputs and outputs are bound to device-resident OrtValues (I/O binding), so the timed call
is inference alone; `fetch` copies outputs back afterwards."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import numpy as np

from twinbench.bench.runtimes import _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.core.errors import RuntimeUnavailable
from twinbench.exporters.artifact import Artifact



@dataclass(frozen=True)
class OrtSettings:
    """Session options of every ONNX Runtime runtime (`provider_options` go to the provider as given)."""

    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"
    allow_tf32: bool = False
    trt_fp16: bool = False
    provider_options: dict[str, Any] = field(default_factory=dict)
_NP_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32,
             "tensor(double)": np.float64, "tensor(float16)": np.float16, "tensor(bool)": np.bool_}


@dataclass(frozen=True)
class _Ep:
    runtime: str
    provider: str
    device: str
    doc: str


_EPS = (
    _Ep("ort-cpu", "CPUExecutionProvider", "cpu", "ONNX Runtime, CPU execution provider"),
    _Ep("ort-cuda", "CUDAExecutionProvider", "cuda", "ONNX Runtime, CUDA execution provider (I/O binding)"),
    _Ep("ort-trt", "TensorrtExecutionProvider", "cuda", "ONNX Runtime, TensorRT execution provider (I/O binding)"),
    _Ep("ort-openvino", "OpenVINOExecutionProvider", "cpu", "ONNX Runtime, OpenVINO execution provider"),
)


@functools.lru_cache(maxsize=1)
def _providers() -> tuple[str, ...] | str:
    """Available providers, or why onnxruntime cannot be used at all."""
    reason = _util.missing("onnxruntime")
    if reason:
        return reason
    try:
        import onnxruntime as ort
    except Exception as exc:  # a broken install must not break `twinbench list`
        return f"onnxruntime fails to import: {type(exc).__name__}: {exc}"
    return tuple(ort.get_available_providers())


def _available(ep: _Ep) -> str | None:
    providers = _providers()
    if isinstance(providers, str):
        return providers
    if ep.provider not in providers:
        hint = {"ort-cuda": "onnxruntime-gpu", "ort-trt": "onnxruntime-gpu with TensorRT",
                "ort-openvino": "onnxruntime-openvino"}.get(ep.runtime, "")
        return f"onnxruntime has no {ep.provider}" + (f" (needs {hint})" if hint else "")
    return None


def _provider_list(ep: _Ep, opts: LoadOptions) -> tuple[list[Any], dict[str, Any]]:
    """The providers argument and the settings it puts in effect (recorded in the results)."""
    extra = dict(opts.settings.get("provider_options", {}))
    tf32 = bool(opts.settings.get("allow_tf32", False))
    if ep.runtime == "ort-cpu":
        return ["CPUExecutionProvider"], {}
    if ep.runtime == "ort-cuda":
        o = {"device_id": 0, "use_tf32": int(tf32), **extra}
        return [("CUDAExecutionProvider", o), "CPUExecutionProvider"], {"allow_tf32": bool(o["use_tf32"])}
    if ep.runtime == "ort-trt":
        o = {"device_id": 0, "trt_fp16_enable": bool(opts.settings.get("trt_fp16", False)), **extra}
        cuda = {"device_id": 0, "use_tf32": int(tf32)}
        eff = {"trt_fp16": o["trt_fp16_enable"], "allow_tf32": tf32}
        if o["trt_fp16_enable"]:
            eff["inference_precision"] = "fp16"
        return [("TensorrtExecutionProvider", o), ("CUDAExecutionProvider", cuda), "CPUExecutionProvider"], eff
    o = {"device_type": "CPU", "precision": "FP32", "num_of_threads": opts.threads, **extra}
    return [("OpenVINOExecutionProvider", o), "CPUExecutionProvider"], {"inference_precision": str(o["precision"]).lower()}


class OrtSession:
    def __init__(self, sess: Any, ep: _Ep, threads: int, settings: dict[str, Any]) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.sess = sess
        self.ep = ep
        self.threads = threads
        self.settings = settings
        self.inputs = [(i.name, _NP_TYPES.get(i.type, np.int64)) for i in sess.get_inputs()]
        self.input_name, self.input_dtype = self.inputs[0]
        self.output_names = [o.name for o in sess.get_outputs()]
        self._gpu = ep.device == "cuda"

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]:
        """Every input by name (a one-input model takes its one feed whatever its name), cast to
        the dtype the graph declares."""
        values = _util.feed_list(feeds, [name for name, _ in self.inputs])
        f = {name: np.ascontiguousarray(v, dtype=dtype) for (name, dtype), v in zip(self.inputs, values)}
        sess = self.sess
        if not self._gpu:
            run, names = sess.run, self.output_names
            return lambda: run(names, f)
        io = sess.io_binding()
        on_device = [self._ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0) for x in f.values()]
        for name, x_dev in zip(f, on_device):
            io.bind_ortvalue_input(name, x_dev)
        for name in self.output_names:
            io.bind_output(name, "cuda", 0)
        run_io = sess.run_with_iobinding

        def call() -> Any:
            run_io(io)
            return (io, on_device)

        return call

    def fetch(self, result: Any) -> list[np.ndarray]:
        if self._gpu:
            io = result[0]
            return [np.asarray(o) for o in io.copy_outputs_to_cpu()]
        return [np.asarray(o) for o in result]

    def sync(self) -> None:
        # run_with_iobinding returns after the stream work is done; nothing queued remains.
        return None

    def info(self) -> dict[str, Any]:
        return {**self.settings, "intra_op_threads": self.threads, "inter_op_threads": 1,
                "providers": self.sess.get_providers(), "io_in_timing": False,
                "onnxruntime": self._ort.__version__}

    def close(self) -> None:
        self.sess = None


def _load(ep: _Ep, artifact: Artifact, opts: LoadOptions) -> OrtSession:
    import onnxruntime as ort

    level = _util.settings(ep.runtime, opts.settings, OrtSettings).graph_optimization_level
    _util.check_device(ep.runtime, opts.device, (ep.device,))
    so = ort.SessionOptions()
    so.intra_op_num_threads = opts.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    so.log_severity_level = 3
    providers, effective = _provider_list(ep, opts)
    sess = ort.InferenceSession(str(artifact.abspath(opts.run_dir)), so, providers=providers)
    if ep.provider not in sess.get_providers():
        raise RuntimeUnavailable(f"{ep.runtime}: onnxruntime fell back to {sess.get_providers()} "
                                 f"({ep.provider} did not load)")
    settings = {"graph_optimization_level": level, **effective}
    return OrtSession(sess, ep, opts.threads, settings)


def _devices(ep: _Ep) -> list[str]:
    return [] if _available(ep) else [ep.device]


for _ep in _EPS:  # one runtime per execution provider, registered like any other
    register_runtime(_ep.runtime, accepts={"onnx"}, available=functools.partial(_available, _ep),
                     devices=functools.partial(_devices, _ep), settings=OrtSettings,
                     doc=_ep.doc)(functools.partial(_load, _ep))
