"""Name the first node where a user's ONNX file stops computing what its reference computes.

A twin's graph is matched with its torch modules (localize.py). A user's file has no torch model;
it has a reference graph (the original ONNX, run in float64 where it can be: fp64.py) or the same
file on the reference runtime. Both sides expose every node output, run once on one batch, and the
candidate's nodes are walked in graph order: the first node with an output of the same name and
shape on both sides whose scale-normalised error (max |a - b| / max(1, max |b|)) exceeds the
profile's atol is named, as `<op type> '<node name>' -> <tensor>`. Optimisers and converters keep
most tensor names (ORT's fp16 converter, quantize_dynamic and a hand edit do; fusion renames what
it fuses), so the walk skips what does not match and names the first diverging tensor it can see.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from twinbench.bench.parity.fp64 import load_reference, ort_session, run_session
from twinbench.bench.parity.localize import graph_session, with_every_output
from twinbench.bench.parity.profiles import Profile, get_profile

if TYPE_CHECKING:
    import onnx

#: What a FAIL row says when every shared tensor agrees: the runtime, not the graph, differs.
RUNTIME_ONLY = "(none in graph: runtime-specific)"


def _floats(pairs: Any) -> dict[str, np.ndarray]:
    return {n: np.asarray(v, dtype=np.float64) for n, v in pairs
            if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)}


def candidate_values(model: "onnx.ModelProto", feeds: Mapping[str, np.ndarray], *, backend: str = "ort",
                     inference_precision: str | None = None) -> dict[str, np.ndarray]:
    """Every float tensor the file computes on one batch, on the cell's backend (ORT CPU with
    optimisations off, or OpenVINO at the cell's precision)."""
    return _floats(graph_session(with_every_output(model), backend=backend,
                                 inference_precision=inference_precision)(feeds))


def reference_values(model: "onnx.ModelProto", feeds: Mapping[str, np.ndarray], *, fp64: bool = True
                     ) -> dict[str, np.ndarray]:
    """Every float tensor of a reference graph on one batch, in float64 where ORT CPU can."""
    ref = load_reference(model) if fp64 else None
    full = with_every_output(ref.model if ref is not None else model)
    session = ort_session(full)
    names = [o.name for o in session.get_outputs()]
    return _floats(zip(names, run_session(session, feeds, names)))


def first_divergent_node(candidate: "onnx.ModelProto", cand: Mapping[str, np.ndarray],
                         ref: Mapping[str, np.ndarray], profile: str | Profile = "fp32") -> tuple[str, float]:
    """(first diverging node, its error), walking `candidate`'s nodes in order; ("", worst error
    seen) when every shared tensor is within the profile's atol; ("", nan) when none is shared."""
    tol = get_profile(profile).atol
    worst = math.nan
    for node in candidate.graph.node:
        for name in node.output:
            a, b = cand.get(name), ref.get(name)
            if a is None or b is None or a.shape != b.shape or a.size == 0:
                continue
            err = float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max()))
            if math.isnan(err):
                err = math.inf
            if err > tol:
                return f"{node.op_type} '{node.name or '?'}' -> {name}", err
            worst = err if math.isnan(worst) else max(worst, err)
    return "", worst


def localize_user(candidate: "onnx.ModelProto", feeds: Mapping[str, np.ndarray], profile: str | Profile, *,
                  backend: str = "ort", inference_precision: str | None = None,
                  reference: "onnx.ModelProto | None" = None, reference_backend: str = "ort") -> str:
    """The first diverging node of a failing user file on one batch, against its reference graph
    (`reference`) or, with none, against the same file on `reference_backend`; RUNTIME_ONLY when
    the graph agrees everywhere it can be seen; "" when nothing could be compared."""
    cand = candidate_values(candidate, feeds, backend=backend, inference_precision=inference_precision)
    if reference is not None:
        ref = reference_values(reference, feeds)
    else:
        ref = candidate_values(candidate, feeds, backend=reference_backend)
    label, err = first_divergent_node(candidate, cand, ref, profile)
    if label:
        return label
    return RUNTIME_ONLY if not math.isnan(err) else ""
