"""Name the first layer where an exported graph stops computing the golden function.

Torch side: forward hooks on every module of the float64 golden model record each module's output
in the order modules finish (children before their parent). ONNX side: every intermediate tensor is
made a graph output and the file is run once (ONNX Runtime CPU, or OpenVINO). Each torch output is
matched to the ONNX tensors of the same element count under transposes, squeezes and reshapes that
merge neighbouring axes (ONNX LSTM's Y [S, dirs, B, H] vs torch's [B, S, dirs*H]). The first module
whose output has shape-compatible ONNX tensors but none within tolerance is the divergent one; a
module with no shape-compatible tensor at all (fused away) cannot be judged and is skipped.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from twinbench.bench.parity.profiles import Profile, get_profile, norm_precision
from twinbench.bench.runtimes.openvino_native import port_dtype
from twinbench.models.registry import INPUT_NAME

if TYPE_CHECKING:
    import onnx
    import torch


@dataclass(frozen=True)
class LayerMatch:
    """One torch module's primary output against its best ONNX counterpart."""

    layer: str
    shape: tuple[int, ...]
    onnx_tensor: str | None      # None: no shape-compatible tensor (not observable)
    error: float                 # max |onnx - torch| / max(1, max |torch|); nan when unobserved
    ok: bool


def torch_layer_outputs(torch_model: "torch.nn.Module", tokens: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(module name, primary output as float64) in the order modules finished; the whole model
    comes last as "output". A module called twice appears as "name#2"."""
    import torch

    model = copy.deepcopy(torch_model).to("cpu").double().eval()
    records: list[tuple[str, np.ndarray]] = []
    seen: dict[str, int] = {}

    def hook_for(name: str):
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            t = _primary(output)
            if t is None or not torch.is_floating_point(t):
                return
            seen[name] = seen.get(name, 0) + 1
            label = name if seen[name] == 1 else f"{name}#{seen[name]}"
            records.append((label, t.detach().cpu().numpy().astype(np.float64)))
        return hook

    handles = [m.register_forward_hook(hook_for(n or "output")) for n, m in model.named_modules()]
    try:
        with torch.no_grad():
            model(torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64)))
    finally:
        for h in handles:
            h.remove()
    return records


def _primary(output: Any) -> "torch.Tensor | None":
    """The first tensor of a module's output (LSTM: the sequence output, not (h, c))."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            t = _primary(item)
            if t is not None:
                return t
    return None


def with_every_output(onnx_model: "str | Path | onnx.ModelProto") -> "onnx.ModelProto":
    """A copy of the graph in which every node output is also a graph output."""
    import onnx

    model = onnx.load(str(onnx_model)) if isinstance(onnx_model, (str, Path)) else copy.deepcopy(onnx_model)
    existing = {o.name for o in model.graph.output}
    names = [o for node in model.graph.node for o in node.output if o and o not in existing]
    for name in names:
        model.graph.output.append(onnx.ValueInfoProto(name=name))
    return model


def _feeds(x: Any, declared: list[tuple[str, Any]]) -> dict[str, np.ndarray]:
    """Token ids for a one-input graph, or a mapping of every input by name (files with several
    inputs: bench/feeds.py), cast to the types the graph declares."""
    if not isinstance(x, Mapping):
        return {declared[0][0] if declared else INPUT_NAME: np.asarray(x, dtype=np.int64)}
    if len(declared) == 1 and len(x) == 1:
        x = {declared[0][0]: next(iter(x.values()))}
    types = dict(declared)
    return {k: np.asarray(v, dtype=types.get(k) or np.asarray(v).dtype) for k, v in x.items() if k in types}


def graph_session(model: "onnx.ModelProto", *, backend: str = "ort", inference_precision: str | None = None
                  ) -> Callable[[Any], list[tuple[str, np.ndarray]]]:
    """Load `model` once on the reference backend (ONNX Runtime CPU with graph optimisations off,
    one thread; or OpenVINO CPU at `inference_precision`); the callable runs one batch (token ids,
    or every input by name) and returns (output name, value) pairs in graph-output order. Used for
    intermediates and prefixes."""
    if backend == "ort":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        out_names = [o.name for o in sess.get_outputs()]
        declared = [(i.name, _ORT_TYPES.get(i.type)) for i in sess.get_inputs()]

        def run_ort(x: Any) -> list[tuple[str, np.ndarray]]:
            return list(zip(out_names, sess.run(out_names, _feeds(x, declared))))

        return run_ort
    if backend == "openvino":
        compiled = _openvino_compiled(model, inference_precision)
        ports = [(p.get_any_name(), port_dtype(p)) for p in compiled.inputs]

        def run_ov(x: Any) -> list[tuple[str, np.ndarray]]:
            result = compiled(_feeds(x, ports))
            return [(name, value) for port, value in result.items() for name in port.get_names()]

        return run_ov
    raise ValueError(f"backend: unknown {backend!r} (ort, openvino)")


_ORT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32,
              "tensor(double)": np.float64, "tensor(float16)": np.float16, "tensor(bool)": np.bool_}


def output_runner(onnx_model: "str | Path | onnx.ModelProto", *, backend: str = "ort",
                  inference_precision: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """tokens -> the graph's first output (float64) on the reference backend, loaded once."""
    import onnx

    model = onnx.load(str(onnx_model)) if isinstance(onnx_model, (str, Path)) else onnx_model
    first = model.graph.output[0].name
    session = graph_session(model, backend=backend, inference_precision=inference_precision)

    def run(tokens: np.ndarray) -> np.ndarray:
        pairs = session(tokens)
        value = dict(pairs).get(first, pairs[0][1])
        return np.asarray(value, dtype=np.float64)

    return run


def onnx_intermediates(onnx_model: "str | Path | onnx.ModelProto", tokens: Any, *,
                       backend: str = "ort", inference_precision: str | None = None) -> dict[str, np.ndarray]:
    """Every float tensor the graph computes (node outputs), as float64, for one batch."""
    model = with_every_output(onnx_model)
    pairs = graph_session(model, backend=backend, inference_precision=inference_precision)(tokens)
    return {n: np.asarray(v, dtype=np.float64) for n, v in pairs
            if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)}


def _openvino_compiled(model: "onnx.ModelProto", inference_precision: str | None) -> Any:
    """OpenVINO: read the graph from memory, compile for CPU with the given precision."""
    import openvino as ov

    core = ov.Core()
    ov_model = core.read_model(model.SerializeToString(), b"")
    config = {}
    if inference_precision:
        norm = norm_precision(inference_precision)
        config["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "fp16": "f16"}.get(norm, norm)
    return core.compile_model(ov_model, "CPU", config)


def _squeezed(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _refines(fine: Sequence[int], coarse: Sequence[int]) -> bool:
    """True when consecutive runs of `fine` multiply to the dims of `coarse`, in order."""
    i = 0
    for c in coarse:
        prod = 1
        while prod < c and i < len(fine):
            prod *= fine[i]
            i += 1
        if prod != c:
            return False
    return i == len(fine)


def view_error(torch_value: np.ndarray, onnx_value: np.ndarray) -> float | None:
    """Smallest scale-normalised max error over admissible views of the ONNX tensor; None when no
    view has the torch tensor's layout."""
    if torch_value.size != onnx_value.size or torch_value.size == 0:
        return None
    ts = _squeezed(torch_value.shape)
    o = onnx_value.reshape(_squeezed(onnx_value.shape))
    t = torch_value.reshape(ts)
    scale = max(1.0, float(np.abs(t).max()))
    best: float | None = None
    axes = range(o.ndim)
    perms = itertools.permutations(axes) if o.ndim <= 5 else [tuple(axes)]
    for perm in perms:
        ps = tuple(o.shape[i] for i in perm)
        if not (_refines(ps, ts) or _refines(ts, ps)):
            continue
        err = float(np.abs(np.transpose(o, perm).reshape(ts) - t).max()) / scale
        if math.isnan(err):
            err = math.inf
        best = err if best is None else min(best, err)
    return best


def match_layers(torch_outputs: list[tuple[str, np.ndarray]], onnx_values: dict[str, np.ndarray],
                 profile: str | Profile = "fp32") -> list[LayerMatch]:
    """Best ONNX counterpart of every torch module output, in forward order."""
    tol = get_profile(profile).atol
    by_size: dict[int, list[tuple[str, np.ndarray]]] = {}
    for name, value in onnx_values.items():
        by_size.setdefault(value.size, []).append((name, value))
    matches = []
    for layer, t in torch_outputs:
        best_name, best_err = None, math.inf
        for name, value in by_size.get(t.size, []):
            err = view_error(t, value)
            if err is not None and err < best_err:
                best_name, best_err = name, err
            if best_err == 0.0:
                break
        if best_name is None:
            matches.append(LayerMatch(layer, tuple(t.shape), None, math.nan, True))
        else:
            matches.append(LayerMatch(layer, tuple(t.shape), best_name, best_err, best_err <= tol))
    return matches


def localize(torch_model: "torch.nn.Module", onnx_model: "str | Path | onnx.ModelProto",
             tokens: np.ndarray, profile: str | Profile = "fp32", *, backend: str = "ort",
             inference_precision: str | None = None) -> tuple[str, float]:
    """(first divergent module, its error) for one batch; ("", worst error seen) when every
    observable module matches (the difference is then in the runtime, not in the graph)."""
    values = onnx_intermediates(onnx_model, tokens, backend=backend, inference_precision=inference_precision)
    return first_divergent_layer(torch_model, values, tokens, profile)


def first_divergent_layer(torch_model: "torch.nn.Module", values: dict[str, np.ndarray], tokens: np.ndarray,
                          profile: str | Profile = "fp32") -> tuple[str, float]:
    """`localize` on intermediates already computed (`onnx_intermediates` on `tokens`), so a caller
    that also localises time steps runs the graph once."""
    outs = torch_layer_outputs(torch_model, tokens)
    matches = match_layers(outs, values, profile)
    for m in matches:
        if not m.ok:
            return m.layer, m.error
    observed = [m.error for m in matches if m.onnx_tensor is not None]
    return "", (max(observed) if observed else math.nan)
