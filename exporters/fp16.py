"""float32 -> float16 graph conversion that keeps int inputs and float32 outputs (keep_io_types).

onnxconverter-common is not a dependency, so this is a small converter of our own. Ops that a
runtime cannot run in fp16 (ONNX Runtime CPU has no fp16 LSTM, for example) are kept in fp32
behind Cast nodes; `convert_fp16(model, keep_fp32=...)` takes that block list, and
`variants.py` finds it by asking ORT CPU which kernels are missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import onnx

#: Ops whose bodies are subgraphs: kept in fp32 whole rather than converted inside.
SUBGRAPH_OPS = frozenset({"Loop", "If", "Scan"})
#: Largest finite float16: weights beyond it are clipped rather than turned into inf.
_FP16_MAX = 65504.0


def _float_values(model: "onnx.ModelProto") -> set[str]:
    """Names of every float32 tensor at the top level (inputs, outputs, intermediates, initializers)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    names = {vi.name for vi in list(g.input) + list(g.value_info) + list(g.output)
             if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    names |= {t.name for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT}
    return names


def _subgraphs(node: "onnx.NodeProto") -> list["onnx.GraphProto"]:
    out = []
    for a in node.attribute:
        if a.HasField("g"):
            out.append(a.g)
        out.extend(a.graphs)
    return out


def _outer_refs(graph: "onnx.GraphProto") -> set[str]:
    """Names a subgraph reads from its enclosing scope (not defined inside it)."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(n for n in node.input if n)
        for sub in _subgraphs(node):
            used |= _outer_refs(sub)
        defined.update(node.output)
    return used - defined


def _rename_inside(graph: "onnx.GraphProto", old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        for sub in _subgraphs(node):
            _rename_inside(sub, old, new)


def _to_fp16_tensor(t: "onnx.TensorProto") -> "onnx.TensorProto":
    import numpy as np
    from onnx import numpy_helper

    arr = numpy_helper.to_array(t).astype(np.float32)
    return numpy_helper.from_array(np.clip(arr, -_FP16_MAX, _FP16_MAX).astype(np.float16), t.name)


def convert_fp16(model: "onnx.ModelProto", *, keep_fp32: Iterable[str] = ()) -> "onnx.ModelProto":
    """A float16 copy of `model`: float initializers and intermediates in fp16, graph inputs and
    outputs unchanged (Casts at the edges), and nodes whose op type is in `keep_fp32` (plus any
    node with a subgraph) running in fp32 between Casts."""
    import onnx
    from onnx import TensorProto, helper

    src = onnx.ModelProto.FromString(model.SerializeToString())
    floats = _float_values(src)
    keep = set(keep_fp32) | SUBGRAPH_OPS
    g = src.graph
    io_names = {i.name for i in g.input} | {o.name for o in g.output}
    init = {t.name: t for t in g.initializer}

    # Initializers read only by fp32 nodes stay fp32; every other float initializer becomes fp16.
    fp32_readers: dict[str, bool] = {}
    for node in g.node:
        blocked = node.op_type in keep
        for name in node.input:
            fp32_readers[name] = fp32_readers.get(name, True) and blocked
    new_inits = []
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT and not fp32_readers.get(t.name, False):
            new_inits.append(_to_fp16_tensor(t))
        else:
            new_inits.append(t)
    half = {t.name for t in new_inits if t.data_type == TensorProto.FLOAT16}

    def fp16_name(name: str) -> bool:
        """Does this float value live in fp16 after conversion (as seen by a converted node)?"""
        return name in floats and name not in io_names and (name not in init or name in half)

    nodes = []
    counter = 0

    def cast(src_name: str, to: int) -> str:
        nonlocal counter
        counter += 1
        out = f"{src_name}__tb_cast{counter}"
        nodes.append(helper.make_node("Cast", [src_name], [out], to=to, name=f"tb_cast_{counter}"))
        return out

    # Graph float inputs: one fp16 copy that converted nodes read.
    in16 = {}
    for i in g.input:
        if i.name in floats and i.name not in init:
            in16[i.name] = cast(i.name, TensorProto.FLOAT16)
    produced_by_blocked: set[str] = set()
    for node in g.node:
        blocked = node.op_type in keep
        if blocked:
            # inputs: fp16 values are cast up; outputs stay fp32 and are cast down for readers
            node.input[:] = [cast(n, TensorProto.FLOAT) if n and fp16_name(n) and n not in in16 else n
                             for n in node.input]
            for sub in _subgraphs(node):  # implicit outer-scope reads of a Loop body, too
                for ref in sorted(_outer_refs(sub)):
                    if fp16_name(ref):
                        _rename_inside(sub, ref, cast(ref, TensorProto.FLOAT))
            nodes.append(node)
            produced_by_blocked.update(o for o in node.output if o in floats)
            continue
        node.input[:] = [in16.get(n, n) for n in node.input]
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(_to_fp16_tensor(a.t))
        nodes.append(node)
    # Readers of fp32 values produced by blocked nodes: give converted readers an fp16 copy.
    down: dict[str, str] = {}
    final = []
    for node in nodes:
        if node.op_type not in keep and not node.name.startswith("tb_cast_"):
            ins = []
            for n in node.input:
                if n in produced_by_blocked and n not in io_names:
                    if n not in down:
                        down[n] = f"{n}__tb_half"
                        final.append(helper.make_node("Cast", [n], [down[n]], to=TensorProto.FLOAT16,
                                                      name=f"tb_half_{len(down)}"))
                    ins.append(down[n])
                else:
                    ins.append(n)
            node.input[:] = ins
        final.append(node)
    # Graph float outputs produced in fp16: rename the producer, cast back to fp32 under the old name.
    for o in g.output:
        if o.name in floats and o.name not in produced_by_blocked and o.name not in in16:
            inner = f"{o.name}__tb_fp16"
            for node in final:
                node.output[:] = [inner if n == o.name else n for n in node.output]
                node.input[:] = [inner if n == o.name else n for n in node.input]
            final.append(helper.make_node("Cast", [inner], [o.name], to=TensorProto.FLOAT, name="tb_out_cast"))
    del g.node[:]
    g.node.extend(final)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    del g.value_info[:]
    return src
