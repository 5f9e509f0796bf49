"""Where in the sequence a failing recurrent graph leaves the reference: the layer and time step.

The NumPy reference traces every recurrent layer's hidden state at every position (`Reference.steps`,
named `lstm_0`, `rnn_0_reverse`, ...: twinbench.models.reference). An ONNX graph shows the same states
as the `Y` output of its LSTM / GRU / RNN nodes ([S, dirs, B, H]; [B, S, dirs, H] when `layout=1`),
one node per layer in graph order, which `localize.onnx_intermediates` has already computed for the
layer search. Forward streams are paired in order with the forward layers, reverse streams with the
reverse ones, and `first_divergent_step` names the first layer and step beyond the profile's
tolerance. A graph without such nodes (a `Loop`, e.g. tf2onnx's GRU) shows outputs only: it is then
run on every prefix of the failing rows, and the first prefix whose output leaves tolerance is
reported. Costs one traced reference run (plus S graph runs for prefixes): failing rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from twinbench.bench.parity.profiles import Profile, get_profile
from twinbench.models.reference import (describe, first_divergent_step, prefix_outputs, prefix_start,
                                        reference_outputs, reference_prefix_outputs)
from twinbench.models.reference.divergence import REVERSE_SUFFIX

if TYPE_CHECKING:
    import onnx

    from twinbench.models.registry import Twin

RNN_OPS = ("LSTM", "GRU", "RNN")
#: Prefix runs use at most this many of the failing rows (S runs each).
PREFIX_ROWS = 32


@dataclass(frozen=True)
class Stream:
    """One direction of one recurrent node: its `Y` tensor ("" when the graph does not compute it),
    where that direction sits on Y's `dirs` axis, and Y's layout attribute."""

    tensor: str
    direction: str  # "forward" | "reverse"
    index: int
    layout: int


def rnn_streams(model: "onnx.ModelProto") -> list[Stream]:
    """Every direction of every LSTM/GRU/RNN node, in graph order (a bidirectional node gives its
    forward stream then its reverse one)."""
    from onnx import helper

    streams = []
    for node in model.graph.node:
        if node.op_type not in RNN_OPS:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        direction = attrs.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else str(direction)
        tensor = node.output[0] if node.output else ""
        layout = int(attrs.get("layout", 0))
        if direction == "bidirectional":
            streams += [Stream(tensor, "forward", 0, layout), Stream(tensor, "reverse", 1, layout)]
        else:
            streams.append(Stream(tensor, "reverse" if direction == "reverse" else "forward", 0, layout))
    return streams


def observed_states(model: "onnx.ModelProto", values: Mapping[str, np.ndarray],
                    reference_steps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's hidden states under the reference's layer names, each [B, S, H]; empty when the
    graph's recurrent nodes do not pair one to one with the reference's layers."""
    layers = {d: [n for n in reference_steps if n.endswith(REVERSE_SUFFIX) == (d == "reverse")]
              for d in ("forward", "reverse")}
    streams = rnn_streams(model)
    pairs = []
    for d, names in layers.items():
        mine = [s for s in streams if s.direction == d]
        if len(mine) != len(names):
            return {}
        pairs += list(zip(names, mine))
    out = {}
    for layer, s in pairs:
        y = values.get(s.tensor) if s.tensor else None
        if y is None or y.ndim != 4:
            continue
        state = np.transpose(y[:, s.index], (1, 0, 2)) if s.layout == 0 else y[:, :, s.index]
        if state.shape == reference_steps[layer].shape:
            out[layer] = state
    return {n: out[n] for n in reference_steps if n in out}  # the reference's order


def tolerance(profile: Profile, reference: Mapping[str, np.ndarray]) -> float:
    """One bound per series: the profile's atol + rtol x the largest reference magnitude."""
    largest = max((float(np.nanmax(np.abs(v))) for v in reference.values() if np.isfinite(v).any()), default=0.0)
    return profile.atol + profile.rtol * largest


def _failing_rows(golden: np.ndarray | None, actual: np.ndarray | None, profile: Profile, n: int) -> np.ndarray:
    """Indices of the rows whose output leaves the elementwise bound (all rows when unknown)."""
    if golden is None or actual is None or golden.shape != actual.shape or not golden.ndim:
        return np.arange(min(n, PREFIX_ROWS))
    g = np.asarray(golden, dtype=np.float64).reshape(golden.shape[0], -1)
    a = np.asarray(actual, dtype=np.float64).reshape(golden.shape[0], -1)
    bad = ~(np.abs(a - g) <= profile.atol + profile.rtol * np.abs(g))  # NaN counts as bad
    rows = np.flatnonzero(bad.any(axis=1))
    return (rows if rows.size else np.arange(n))[:PREFIX_ROWS]


def locate_steps(twin: "Twin", state_dict: Mapping[str, Any], tokens: np.ndarray, profile: str | Profile, *,
                 graph: "onnx.ModelProto | None" = None, values: Mapping[str, np.ndarray] | None = None,
                 run: Callable[[np.ndarray], Any] | None = None, golden: np.ndarray | None = None,
                 actual: np.ndarray | None = None, where: str = "") -> str:
    """One line for a failing row of a recurrent twin ("" when the twin has no reference or no
    recurrent layer): the first layer and step where the graph's hidden states (`values` of `graph`
    on `tokens`) leave tolerance, else, with `run` (tokens -> outputs), the first prefix of the
    failing rows (from `golden` vs `actual`) whose output does. `where` names the backend."""
    p = get_profile(profile)
    tokens = np.asarray(tokens)
    seq = int(tokens.shape[1])
    ref = reference_outputs(twin, state_dict, tokens, trace=True)
    if ref is None or not ref.steps:
        return ""
    observed = observed_states(graph, values, ref.steps) if graph is not None and values is not None else {}
    if observed:
        judged = {k: ref.steps[k] for k in observed}
        div = first_divergent_step(judged, observed, tolerance(p, judged))
        partial = "" if len(observed) == len(ref.steps) else f" (observed {', '.join(observed)} only)"
        if div is not None:
            return describe(div, seq) + partial
        return (f"hidden states of {', '.join(observed)} stay within {p.name} tolerance at all {seq} steps"
                f"{where}: the divergence is after the recurrence")
    if run is None or prefix_start(twin) is None:
        return "outputs only: hidden states not observable and the graph not re-run per prefix"
    rows = _failing_rows(golden, actual, p, tokens.shape[0])
    subset = np.ascontiguousarray(tokens[rows])
    expected = reference_prefix_outputs(twin, state_dict, subset)
    if expected is None:
        return ""
    got = prefix_outputs(run, subset, start=prefix_start(twin) or 1, per_token=twin.task == "tag")
    div = first_divergent_step({"logits": expected}, {"logits": got}, tolerance(p, {"logits": expected}))
    if div is None:
        return f"outputs only: no prefix of the failing rows leaves {p.name} tolerance{where}"
    return f"outputs only: first diverging prefix step {div.step + 1} of {seq}"
