"""`openvino`: the ONNX file compiled by OpenVINO's own Core for the CPU.

OpenVINO CPU picks bf16 by itself on CPUs with AVX512_BF16/AMX, which moves outputs by ~1e-3.
By default we ask for f32 and record it; `{"inference_precision": "bf16" | "f32" | "default"}` lets a
user choose (default = leave the plugin's choice). `info()` reports the precision read back from the
compiled model, which is what parity's profile choice relies on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

import numpy as np

from twinbench.bench.runtimes import _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.core.typed import number
from twinbench.exporters.artifact import Artifact

_PRECISIONS = {"f32": "f32", "fp32": "f32", "bf16": "bf16", "f16": "f16", "fp16": "f16", "default": None}


@dataclass(frozen=True)
class OpenVinoSettings:
    """What compile_model is asked for ("default" precision: the CPU plugin's own choice)."""

    inference_precision: Literal["f32", "fp32", "bf16", "f16", "fp16", "default"] = "f32"
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    num_streams: int = number(1, ge=1, le=1024)


def available() -> str | None:
    reason = _util.missing("openvino")
    if reason:
        return reason
    return None


def devices() -> list[str]:
    return [] if available() else ["cpu"]


def normalise_precision(value: Any) -> str:
    """OpenVINO's element type ('<Type: 'bfloat16'>', 'bf16', 'f32') as fp32 | bf16 | fp16."""
    text = str(value).lower()
    if "bf16" in text or "bfloat16" in text:
        return "bf16"
    if "f16" in text or "float16" in text:
        return "fp16"
    if "f32" in text or "float32" in text:
        return "fp32"
    return text


_PORT_TYPES = {"i64": np.int64, "i32": np.int32, "f32": np.float32, "f16": np.float16, "f64": np.float64,
               "boolean": np.bool_, "u8": np.uint8}


def port_dtype(port: Any) -> Any:
    """The numpy dtype of an OpenVINO port's element type (int64 when it says nothing we know)."""
    return _PORT_TYPES.get(port.get_element_type().get_type_name(), np.int64)


class OpenVinoSession:
    def __init__(self, compiled: Any, threads: int, settings: dict[str, Any]) -> None:
        import openvino as ov

        self._ov = ov
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.threads = threads
        self.settings = settings
        #: (name, numpy dtype) of every input port, in port order
        self.ports = [(port.get_any_name(), port_dtype(port)) for port in compiled.inputs]
        self.input_dtype = self.ports[0][1]

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]:
        """Every input port by name (a one-input model takes its one feed whatever its name)."""
        values = _util.feed_list(feeds, [name for name, _ in self.ports])
        req = self.request
        for i, ((_, dtype), v) in enumerate(zip(self.ports, values)):
            req.set_input_tensor(i, self._ov.Tensor(np.ascontiguousarray(v, dtype=dtype), shared_memory=False))
        infer = req.infer

        def call() -> Any:
            return infer(None, False, True)

        return call

    def fetch(self, result: Any) -> list[np.ndarray]:
        return [np.array(self.request.get_output_tensor(i).data, copy=True)
                for i in range(len(self.compiled.outputs))]

    def sync(self) -> None:
        return None

    def info(self) -> dict[str, Any]:
        c = self.compiled
        actual = c.get_property("INFERENCE_PRECISION_HINT")
        return {**self.settings, "threads": int(c.get_property("INFERENCE_NUM_THREADS")),
                "inference_precision": normalise_precision(actual),
                "precision_effective": normalise_precision(actual),
                "num_streams": str(c.get_property("NUM_STREAMS")), "io_in_timing": False,
                "openvino": self._ov.get_version()}

    def close(self) -> None:
        self.request = None
        self.compiled = None


@register_runtime("openvino", accepts={"onnx"}, available=available, devices=devices, settings=OpenVinoSettings,
                  doc="OpenVINO Core compile_model on CPU (f32 by default; precision read back)")
def load(artifact: Artifact, opts: LoadOptions) -> OpenVinoSession:
    import openvino as ov

    s = _util.settings("openvino", opts.settings, OpenVinoSettings)
    _util.check_device("openvino", opts.device, ("cpu",))
    requested = s.inference_precision
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": opts.threads, "NUM_STREAMS": str(s.num_streams),
                              "PERFORMANCE_HINT": s.performance_hint}
    if _PRECISIONS[requested] is not None:
        config["INFERENCE_PRECISION_HINT"] = _PRECISIONS[requested]
    core = ov.Core()
    model = core.read_model(str(artifact.abspath(opts.run_dir)))
    compiled = core.compile_model(model, "CPU", config)
    return OpenVinoSession(compiled, opts.threads, {"inference_precision_requested": requested})

