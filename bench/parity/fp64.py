"""A float64 copy of an fp32 ONNX graph, run on ONNX Runtime CPU: the reference for a user's file.

The twins' golden is their torch model in float64 (bench/parity/inputs.py). A user's file has no
torch model; its reference is the original ONNX graph the user names (before optimisation,
quantisation or conversion). Run in fp32 it would carry fp32 rounding of its own into every
verdict, so it is converted: float initializers, constants, Casts, graph inputs and outputs become
double. Some ONNX Runtime CPU kernels exist in float only (the answer comes from ORT itself: "Could
not find an implementation for Erf(13)"): those op types are kept in fp32 between Casts, one type
at a time, and named in the result. Tensor names stay the graph's own, so the reference's
intermediates can be matched with the candidate's by name (bench/parity/graphs.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

if TYPE_CHECKING:
    import onnx

_MISSING_KERNEL = re.compile(r"Could not find an implementation for (\w+)\(")
#: At most this many op types are moved back to fp32 before giving up on float64.
MAX_FP32_OPS = 16


@dataclass(frozen=True)
class Reference:
    """A loaded reference graph: `model` (what runs: the float64 copy, or the fp32 original when no
    float64 copy would load), `precision` ("fp64" | "fp32"), op types kept in fp32, and why."""

    model: Any
    precision: str
    fp32_ops: tuple[str, ...] = ()
    note: str = ""
    session: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"precision": self.precision, "fp32_ops": list(self.fp32_ops), "note": self.note}


def _float_types(model: "onnx.ModelProto") -> dict[str, int]:
    """Element type of every value shape inference can name (graph inputs, outputs, intermediates)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        inferred = model
    g = inferred.graph
    out: dict[str, int] = {}
    for vi in [*g.input, *g.output, *g.value_info]:
        if vi.type.HasField("tensor_type"):
            out[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        out[init.name] = init.data_type
    return out


def _double_tensor(t: "onnx.TensorProto") -> "onnx.TensorProto":
    from onnx import numpy_helper

    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name)


def _convert_graph(graph: "onnx.GraphProto") -> None:
    """FLOAT -> DOUBLE everywhere in `graph` and its subgraphs (types, weights, constants, Casts)."""
    import onnx

    F, D = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE
    for i, init in enumerate(graph.initializer):
        if init.data_type == F:
            graph.initializer[i].CopyFrom(_double_tensor(init))
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type == F:
            vi.type.tensor_type.elem_type = D
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == F:
                attr.t.CopyFrom(_double_tensor(attr.t))
            elif attr.type == onnx.AttributeProto.INT and attr.name in ("to", "dtype") and attr.i == F:
                attr.i = D
            elif attr.type == onnx.AttributeProto.GRAPH:
                _convert_graph(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    _convert_graph(g)


def _keep_fp32(graph: "onnx.GraphProto", ops: Iterable[str], types: Mapping[str, int]) -> None:
    """Nodes of `ops` compute in fp32: Cast their float inputs down and their float outputs back up,
    under the original output names (so the rest of the graph and name matching are unchanged)."""
    import onnx
    from onnx import helper

    F, D = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE
    ops = set(ops)
    nodes = []
    for k, node in enumerate(graph.node):
        if node.op_type not in ops:
            nodes.append(node)
            continue
        before, after = [], []
        for j, name in enumerate(node.input):
            if name and types.get(name) == F:
                low = f"{name}__fp32_{k}"
                before.append(helper.make_node("Cast", [name], [low], to=F, name=f"{low}_cast"))
                node.input[j] = low
        for j, name in enumerate(node.output):
            if name and types.get(name) == F:
                low = f"{name}__fp32"
                after.append(helper.make_node("Cast", [low], [name], to=D, name=f"{low}_cast"))
                node.output[j] = low
        for attr in node.attribute:  # the node's own constants stay fp32
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == D:
                from onnx import numpy_helper

                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float32), attr.t.name))
            elif attr.type == onnx.AttributeProto.INT and attr.name in ("to", "dtype") and attr.i == D:
                attr.i = F
        nodes += [*before, node, *after]
    del graph.node[:]
    graph.node.extend(nodes)


def to_float64(model: "onnx.ModelProto", keep_fp32: Iterable[str] = ()) -> "onnx.ModelProto":
    """A float64 copy of `model` (the argument is unchanged); op types in `keep_fp32` run in fp32."""
    import onnx

    types = _float_types(model)
    copy = onnx.ModelProto.FromString(model.SerializeToString())
    _convert_graph(copy.graph)
    keep = list(keep_fp32)
    if keep:
        _keep_fp32(copy.graph, keep, types)
    return copy


def ort_session(model: "onnx.ModelProto") -> Any:
    """ONNX Runtime CPU, graph optimisations off (no fusion may change the arithmetic), one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _to_keep(model: "onnx.ModelProto", op: str, keep: list[str]) -> list[str]:
    """Op types to keep in fp32 when ORT has no float64 kernel for `op`: `op` itself when the graph
    has it; else it came from a function op ORT expanded (opset 20's Gelu holds an Erf): a function
    op whose body uses `op`, else the next function op of the graph not yet kept (one per try)."""
    import onnx

    present = {n.op_type for n in model.graph.node}
    if op in present and op not in keep:
        return [op]
    version = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)
    holders, functions = [], []
    for name in sorted(present - set(keep)):
        try:
            schema = onnx.defs.get_schema(name, version)
        except Exception:
            continue
        if schema.has_function and op in {n.op_type for n in schema.function_body.node}:
            holders.append(name)
        elif schema.has_function or schema.has_context_dependent_function:
            functions.append(name)
    return (holders or functions)[:1]


def load_reference(model: "onnx.ModelProto") -> Reference:
    """The float64 copy when ONNX Runtime CPU loads it (op types without a float64 kernel kept in
    fp32), else the fp32 graph itself, with the reason."""
    keep: list[str] = []
    for _ in range(MAX_FP32_OPS + 1):
        candidate = to_float64(model, keep)
        try:
            return Reference(candidate, "fp64", tuple(keep), "", ort_session(candidate))
        except Exception as exc:
            found = _MISSING_KERNEL.search(str(exc))
            more = _to_keep(model, found.group(1), keep) if found else []
            if not more:
                why = f"no float64 copy loads in ONNX Runtime CPU ({str(exc).splitlines()[0][:200]})"
                break
            keep += more
    else:
        why = f"more than {MAX_FP32_OPS} op types lack float64 kernels"
    return Reference(model, "fp32", (), why, ort_session(model))


def run_session(session: Any, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> list[np.ndarray]:
    """Run an ONNX Runtime session on feeds cast to the types its inputs declare."""
    types = {"tensor(double)": np.float64, "tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}
    declared = {i.name: types.get(i.type) for i in session.get_inputs()}
    if len(declared) == 1 and len(feeds) == 1:
        feeds = {next(iter(declared)): next(iter(feeds.values()))}
    fed = {k: np.asarray(v, dtype=declared.get(k) or np.asarray(v).dtype) for k, v in feeds.items() if k in declared}
    return session.run(outputs, fed)
