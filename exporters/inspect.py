"""Look inside an ONNX graph: op histogram, node count and a FLOPs estimate.

FLOPs counting rules (one multiply-add = 2 FLOPs; elementwise ops, activations, softmax,
normalisation, gathers and casts count 0, because the matrix products dominate these models):

- MatMul:  2 * prod(output shape) * K, K the shared (reduced) axis; batched matmuls (attention
  scores Q.K^T and the weighted sum A.V) are covered by this rule.
- Gemm:    2 * M * N * K (the bias add is ignored).
- Conv:    2 * prod(output shape) * (C_in / group) * prod(kernel shape).
- LSTM:    per time step, per sequence, per direction 2 * 4H * (I + H); GRU 2 * 3H * (I + H);
           RNN 2 * H * (I + H); times seq_len * batch * num_directions (H = hidden_size, I = input size).
- Attention (opset 23): 2 * B * S_q * S_kv * (q_heads * D_qk + q_heads * D_v), the two matmuls.
- Nodes inside Loop/Scan/If bodies are not counted (their trip count is data dependent), and a
  node whose input shapes cannot be inferred counts 0; `flops_report` says how many were skipped.

Shapes come from ONNX shape inference after pinning the first input to [batch, seq].
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import onnx


def _walk(graph: "onnx.GraphProto") -> Iterator[Any]:
    """Every node of the graph, including nodes of subgraphs (Loop/If/Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _walk(attr.g)
            for sub in attr.graphs:
                yield from _walk(sub)


def _as_model(model: "onnx.ModelProto | str | Path") -> "onnx.ModelProto":
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model))
    return model


def op_histogram(model: "onnx.ModelProto | str | Path") -> dict[str, int]:
    """Op type -> count (domain-qualified for non-default domains), sorted by name."""
    counts: Counter[str] = Counter()
    for node in _walk(_as_model(model).graph):
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        counts[key] += 1
    return dict(sorted(counts.items()))


def node_count(model: "onnx.ModelProto | str | Path") -> int:
    """Number of nodes, subgraph nodes included."""
    return sum(1 for _ in _walk(_as_model(model).graph))


def _shapes(model: "onnx.ModelProto", batch: int, seq: int) -> dict[str, list[int | None]]:
    """Name -> static shape (None for unknown dims) after pinning graph inputs to [batch, seq]."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    init_names = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in init_names:
            continue
        dims = inp.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if i < 2 and not d.HasField("dim_value"):
                d.dim_value = batch if i == 0 else seq
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # a partially inferable graph still gives useful counts
        pass
    out: dict[str, list[int | None]] = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                            for d in vi.type.tensor_type.shape.dim]
    for t in model.graph.initializer:
        out[t.name] = list(t.dims)
    return out


def _prod(xs: list[int]) -> int:
    p = 1
    for x in xs:
        p *= int(x)
    return p


def _known(shape: list[int | None] | None) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _node_flops(node: Any, shp: dict[str, list[int | None]]) -> int | None:
    """FLOPs of one node, 0 for uncounted ops, None when a needed shape is unknown."""
    op = node.op_type
    ins = [shp.get(n) if n else None for n in node.input]
    outs = [shp.get(n) if n else None for n in node.output]
    if op == "MatMul":
        a, o = ins[0], outs[0]
        if not (_known(a) and _known(o)) or not a:
            return None
        return 2 * _prod(o) * int(a[-1])
    if op == "Gemm":
        a, o = ins[0], outs[0]
        if not (_known(a) and _known(o)):
            return None
        k = a[0] if _attr(node, "transA", 0) else a[1]
        return 2 * _prod(o) * int(k)
    if op == "Conv":
        w, o = ins[1], outs[0]
        if not (_known(w) and _known(o)):
            return None
        return 2 * _prod(o) * int(w[1]) * _prod(w[2:])
    if op in ("LSTM", "GRU", "RNN"):
        x, w = ins[0], ins[1]
        if not (_known(x) and _known(w)):
            return None
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        hidden = int(_attr(node, "hidden_size", w[1] // gates))
        dirs, in_size = int(w[0]), int(w[2])
        seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
        return 2 * gates * hidden * (in_size + hidden) * int(seq) * int(batch) * dirs
    if op == "Attention":
        q, k, v = ins[0], ins[1], ins[2]
        if not (_known(q) and _known(k) and _known(v)):
            return None
        if len(q) == 4:  # [B, heads, S, D]
            b, hq, sq, dq = q
            skv, dv = k[2], v[3]
            return 2 * b * sq * skv * (hq * dq + hq * dv)
        b, sq, hidden_q = q  # [B, S, heads * D]
        skv, hidden_v = k[1], v[2]
        kv_heads = int(_attr(node, "kv_num_heads", 1))
        q_heads = int(_attr(node, "q_num_heads", 1))
        return 2 * b * sq * skv * (hidden_q + hidden_v // kv_heads * q_heads)
    return 0


def flops_report(onnx_path: "str | Path | onnx.ModelProto", batch: int, seq: int) -> dict[str, Any]:
    """{"flops": total, "by_op": {op: flops}, "skipped": nodes with unknown shapes}."""
    model = _as_model(onnx_path)
    shp = _shapes(model, batch, seq)
    by_op: Counter[str] = Counter()
    skipped = 0
    for node in model.graph.node:  # top level only: see the counting rules above
        f = _node_flops(node, shp)
        if f is None:
            skipped += 1
        elif f:
            by_op[node.op_type] += f
    return {"flops": int(sum(by_op.values())), "by_op": dict(by_op), "skipped": skipped}


def flops_estimate(onnx_path: "str | Path | onnx.ModelProto", batch: int, seq: int) -> int:
    """Estimated FLOPs of one forward pass at [batch, seq] (rules in the module docstring)."""
    return int(flops_report(onnx_path, batch, seq)["flops"])
