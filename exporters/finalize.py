"""What every exporter does after writing its file: normalise names, stamp metadata, check, record.

Exporters disagree on names (tf2onnx calls the output "Identity:0" and the axes "unk__12"), so the
file is rewritten to the contract: input "tokens" (int64, axes "batch", "seq"), output "logits".
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinbench.core.errors import ExportError, summary
from twinbench.exporters.artifact import Artifact
from twinbench.models.registry import INPUT_NAME, OUTPUT_NAME
from twinbench.core import __version__
from twinbench.exporters.inspect import flops_report, node_count, op_histogram

if TYPE_CHECKING:
    import onnx

    from twinbench.exporters import ExportRequest

_OP_PATTERNS = [
    re.compile(r"Unsupported ops: Counter\(\{'([\w.:]+)'"),                   # tf2onnx
    re.compile(r"Tensorflow op \[[^\]]*: ([\w.]+)\] is not supported"),       # tf2onnx log line
    re.compile(r"operator '([\w:.]+)' to ONNX opset version"),                # TorchScript
    re.compile(r"\b(aten(?:::|\.)[\w]+(?:\.\w+)?)"),                          # dynamo / TorchScript
]


def unsupported_op(message: str) -> str | None:
    """The op an exporter's error message names as unsupported, if any."""
    for pat in _OP_PATTERNS:
        m = pat.search(message)
        if m:
            return m.group(1)
    return None


def export_error(exporter: str, twin: str, exc: BaseException) -> ExportError:
    """One-line ExportError naming the unsupported op where the message reveals it."""
    text = str(exc)
    op = unsupported_op(text)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    head = f"{exporter}: cannot export twin {twin!r}"
    if op:
        return ExportError(f"{head}: unsupported op {op} ({first[:200]})")
    return ExportError(f"{head}: {type(exc).__name__}: {first[:300]}")


def rel_path(path: Path, run_dir: Path) -> str:
    return Path(path).resolve().relative_to(Path(run_dir).resolve()).as_posix()


def _rename_value(graph: "onnx.GraphProto", old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for coll in (graph.input, graph.output, graph.value_info):
        for vi in coll:
            if vi.name == old:
                vi.name = new


def normalise_io(model: "onnx.ModelProto", *, tag: bool, fixed_length: int | None) -> None:
    """Rename the single input/output to the contract and name the dynamic axes batch/seq."""
    import onnx

    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ExportError(f"expected 1 input and 1 output, got {[i.name for i in inputs]} -> "
                          f"{[o.name for o in graph.output]}")
    if inputs[0].name != INPUT_NAME:
        _rename_value(graph, inputs[0].name, INPUT_NAME)
    if graph.output[0].name != OUTPUT_NAME:
        _rename_value(graph, graph.output[0].name, OUTPUT_NAME)
    tt = inputs[0].type.tensor_type
    if tt.elem_type != onnx.TensorProto.INT64:
        raise ExportError(f"input {INPUT_NAME!r} is {onnx.TensorProto.DataType.Name(tt.elem_type)}, not INT64")
    axes = {0: "batch"} if fixed_length else {0: "batch", 1: "seq"}
    for i, d in enumerate(tt.shape.dim):
        if i in axes:
            if d.HasField("dim_value"):
                raise ExportError(f"input axis {i} ({axes[i]}) was specialised to {d.dim_value}; "
                                  "the exporter did not keep it dynamic")
            d.dim_param = axes[i]
    out_axes = {0: "batch", 1: "seq"} if tag and not fixed_length else {0: "batch"}
    for i, d in enumerate(graph.output[0].type.tensor_type.shape.dim):
        if i in out_axes and not d.HasField("dim_value"):
            d.dim_param = out_axes[i]


def alias_loop_passthroughs(graph: "onnx.GraphProto") -> int:
    """Give every Loop/Scan/If body output that is one of the body's own inputs an Identity.

    tf2onnx writes loop-invariant carried values (weights, the trip limit) as a body output with the
    same name as the body input. ONNX allows it and ONNX Runtime runs it, but OpenVINO 2026 reading the
    file from disk counts such a value twice and refuses the Loop ("canonical inputs size ... does not
    match"); tf2onnx leaves a Keras 3 GRU unfused, so that twin hits it. The Identity changes no value.
    Returns how many were added.
    """
    import onnx

    added = 0
    for node in graph.node:
        for attr in node.attribute:
            bodies = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for body in bodies:
                added += alias_loop_passthroughs(body)
                inputs = {vi.name for vi in body.input}
                taken = {o for n in body.node for o in n.output} | inputs
                for out in body.output:
                    if out.name not in inputs:
                        continue
                    new = f"{out.name}__passthrough"
                    while new in taken:
                        new += "_"
                    body.node.append(onnx.helper.make_node("Identity", [out.name], [new]))
                    taken.add(new)
                    out.name = new
                    added += 1
    return added


def io_signature(model: "onnx.ModelProto") -> dict[str, Any]:
    import onnx

    def desc(vi: Any) -> dict[str, Any]:
        tt = vi.type.tensor_type
        return {"name": vi.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name,
                "shape": [d.dim_param or d.dim_value for d in tt.shape.dim]}

    inits = {t.name for t in model.graph.initializer}
    return {"inputs": [desc(i) for i in model.graph.input if i.name not in inits],
            "outputs": [desc(o) for o in model.graph.output]}


def set_metadata(model: "onnx.ModelProto", props: dict[str, str]) -> None:
    """Write twinbench.* metadata_props, replacing earlier values of the same keys."""
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for k, v in props.items():
        model.metadata_props.add(key=k, value=str(v))


def check(model: "onnx.ModelProto", what: str) -> None:
    """Full ONNX checker plus strict shape inference; ExportError in one line otherwise."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:
        raise ExportError(f"{what}: ONNX check failed: {summary(exc, 300)}") from None


def finish_onnx(req: "ExportRequest", name: str, path: Path, *, source: str, seconds: float,
                weights_hash: str, versions: dict[str, Any], extra: dict[str, Any] | None = None) -> Artifact:
    """Normalise, stamp, check and save the exported file; return its Artifact (sidecar written)."""
    import onnx

    model = onnx.load(str(path))
    normalise_io(model, tag=req.twin.task == "tag", fixed_length=req.twin.fixed_length)
    passthroughs = alias_loop_passthroughs(model.graph)
    set_metadata(model, {
        "twinbench.twin": req.twin.name, "twinbench.source": source, "twinbench.exporter": name,
        "twinbench.weights_sha256": weights_hash, "twinbench.version": __version__,
    })
    check(model, f"{name} ({path.name})")
    onnx.save(model, str(path))
    flops = flops_report(model, 1, req.seq)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    meta: dict[str, Any] = {
        "opset": opsets.get("ai.onnx", req.opset), "opset_requested": req.opset, "opsets": opsets,
        "seconds": round(seconds, 4), "bytes": path.stat().st_size,
        "node_count": node_count(model), "op_histogram": op_histogram(model),
        "weights_hash": weights_hash,
        "flops": flops["flops"], "flops_at": {"batch": 1, "seq": req.seq},
        "flops_skipped_nodes": flops["skipped"],
        "loop_passthroughs_aliased": passthroughs,
        **io_signature(model), "versions": versions,
        "example": {"batch": req.example_batch, "seq": req.seq},
    }
    meta.update(extra or {})
    art = Artifact(name=name, kind="onnx", path=rel_path(path, req.run_dir), twin=req.twin.name,
                   source=source, exporter=name, precision="fp32",
                   twin_config=dataclasses.asdict(req.twin.config), meta=meta)
    art.write_sidecar(req.run_dir)
    return art
