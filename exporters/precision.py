"""The arithmetic precision an ONNX file computes in, read from the file itself.

Parity picks its tolerance profile from the precision of what a cell computed (docs/parity.md);
for files the suite did not make (a user's, or a twin's export converted or quantised by hand)
that precision must come from the graph, not from a label: an fp16 copy judged by the fp32
profile fails for rounding it was made to do, an int8 copy judged by fp16 fails likewise.

The rule is "the lowest precision any value passes through": quantisation nodes (QuantizeLinear /
DequantizeLinear, DynamicQuantizeLinear, QLinear*, MatMulInteger, ONNX Runtime's quantised contrib
ops) make it int8; float16 / bfloat16 weights or Casts to them (ONNX Runtime's converter with
`keep_io_types` leaves fp32 inputs and outputs and Casts at the borders) make it fp16 / bf16;
anything else is fp32. Subgraphs (Loop, If, Scan bodies) count too.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import onnx

#: Op types that only appear in quantised graphs (standard ops and ONNX Runtime's com.microsoft ones).
QUANT_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLSTM", "QAttention", "QGemm",
    "QEmbedLayerNormalization", "QOrderedMatMul", "QOrderedAttention", "MatMulNBits", "GatherBlockQuantized",
})
QUANT_PREFIX = "QLinear"


def _graphs(graph: "onnx.GraphProto") -> Iterator["onnx.GraphProto"]:
    """The graph and every subgraph in it, depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g.node or attr.g.initializer:
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _elements(tensor: Any) -> int:
    n = 1
    for d in tensor.dims:
        n *= int(d)
    return n


def precision_facts(model: "onnx.ModelProto") -> dict[str, Any]:
    """Counts the rule reads: quantisation ops, float weights by element type, Casts by target type."""
    import onnx

    names = {onnx.TensorProto.FLOAT16: "fp16", onnx.TensorProto.BFLOAT16: "bf16", onnx.TensorProto.FLOAT: "fp32",
             onnx.TensorProto.DOUBLE: "fp64"}
    quant: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    casts: Counter[str] = Counter()
    for graph in _graphs(model.graph):
        for init in graph.initializer:
            if init.data_type in names:
                weights[names[init.data_type]] += _elements(init)
        for node in graph.node:
            if node.op_type in QUANT_OPS or node.op_type.startswith(QUANT_PREFIX):
                quant[node.op_type] += 1
            elif node.op_type == "Cast":
                to = next((a.i for a in node.attribute if a.name == "to"), None)
                if to in names:
                    casts[names[to]] += 1
            elif node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value" and a.t.data_type in names:
                        weights[names[a.t.data_type]] += _elements(a.t)
    return {"quant_ops": dict(quant), "float_weights": dict(weights), "casts_to": dict(casts)}


def graph_precision(model: "onnx.ModelProto") -> tuple[str, str]:
    """(fp32 | fp16 | bf16 | int8, one-line reason read from the graph)."""
    facts = precision_facts(model)
    quant, weights, casts = facts["quant_ops"], facts["float_weights"], facts["casts_to"]
    if quant:
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(quant.items()))
        return "int8", f"quantised graph ({ops})"
    for low in ("bf16", "fp16"):
        if weights.get(low) or casts.get(low):
            total = sum(weights.values()) or 1
            share = weights.get(low, 0) / total
            return low, (f"{share:.0%} of float weight elements are {low}, {casts.get(low, 0)} Casts to {low}")
    return "fp32", "no reduced-precision weights, Casts or quantisation nodes in the graph"
