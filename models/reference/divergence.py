"""Where in the sequence does a run leave the reference? The first layer and time step.

Two ways in, one comparison:
- the runtime exposes per-step states (ONNX LSTM/GRU `Y`, hooks in a framework): compare them
  with `Reference.steps` (same names, [B, S, H] each) via `first_divergent_step`;
- only final outputs are observable: run the runtime *and* the reference on every prefix
  tokens[:, :t] (`prefix_outputs`), which turns outputs into a per-step series [B, S, ...], and
  compare those under one name (e.g. "logits") with the same `first_divergent_step`. The answer
  is then "the output of the first t+1 tokens is the first to leave tolerance", which for a
  forward recurrence is the step where the states diverge. Costs S runs; run it on the few rows
  that failed, not on a whole batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

import numpy as np

from twinbench.models.reference.registry import as_numpy_weights, get_reference

if TYPE_CHECKING:
    from twinbench.models.registry import Twin

REVERSE_SUFFIX = "_reverse"


class Divergence(NamedTuple):
    """`layer` as named in the steps mapping; `step` the 0-based position along the sequence."""

    layer: str
    step: int


def step_errors(reference: Mapping[str, np.ndarray], observed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """max |observed - reference| per position [S] for every layer present in both, in the
    reference's order. NaN where the reference is NaN (position not observed, see
    `prefix_outputs`); inf where the observation is NaN/inf and the reference is not."""
    errors = {}
    for layer, ref in reference.items():
        if layer not in observed:
            continue
        ref = np.asarray(ref, dtype=np.float64)
        obs = np.asarray(observed[layer], dtype=np.float64)
        if obs.shape != ref.shape:
            raise ValueError(f"layer {layer!r}: observed shape {obs.shape} differs from reference {ref.shape}")
        diff = np.abs(obs - ref)
        diff = np.where(np.isfinite(ref) & ~np.isfinite(obs), np.inf, diff)
        per_step = np.moveaxis(diff, 1, 0).reshape(ref.shape[1], -1)
        unobserved = np.isnan(np.moveaxis(ref, 1, 0).reshape(ref.shape[1], -1)).all(axis=1)
        errors[layer] = np.where(unobserved, np.nan, per_step.max(axis=1, initial=0.0))
    return errors


def first_divergent_step(reference_steps: Mapping[str, np.ndarray], observed: Mapping[str, np.ndarray],
                         tol: float) -> Divergence | None:
    """The first layer (in the reference's order: lstm_0, lstm_0_reverse, lstm_1, ...) with a
    position whose max abs error exceeds `tol`, and the first such position in the order that
    layer reads the sequence (the last one for `*_reverse` layers); None when all are within.

    Layers the observation lacks are skipped: say so to the user (`observed_layers`)."""
    for layer, err in step_errors(reference_steps, observed).items():
        bad = np.flatnonzero(err > tol)  # NaN (unobserved) compares False
        if bad.size:
            return Divergence(layer, int(bad[-1] if layer.endswith(REVERSE_SUFFIX) else bad[0]))
    return None


def observed_layers(reference_steps: Mapping[str, np.ndarray], observed: Mapping[str, np.ndarray]) -> list[str]:
    """The layers `first_divergent_step` could judge: those both sides have."""
    return [layer for layer in reference_steps if layer in observed]


def describe(div: Divergence | None, seq_len: int) -> str:
    """One line for a report; steps counted from 1 here, unlike `Divergence.step`."""
    if div is None:
        return "no step leaves tolerance"
    where = f"diverges at layer {div.layer}, step {div.step + 1} of {seq_len}"
    return where + " (read backwards)" if div.layer.endswith(REVERSE_SUFFIX) else where


def prefix_outputs(run: Callable[[np.ndarray], Any], tokens: np.ndarray, *, start: int = 1,
                   per_token: bool = False) -> np.ndarray:
    """`run(tokens[:, :t])` for t = start .. S stacked as [B, S, ...]: entry [:, t-1] is the
    output after t tokens. `run` is anything tokens -> outputs (a runtime session, a reference).
    `per_token`: outputs are [B, t, ...] (taggers); the newest position t-1 is kept.
    Positions before `start` (prefixes the model cannot read, e.g. shorter than a CNN kernel)
    are NaN, which `first_divergent_step` treats as unobserved."""
    tokens = np.asarray(tokens)
    seq = tokens.shape[1]
    if not 1 <= start <= seq:
        raise ValueError(f"start must be in [1, {seq}], got {start}")
    rows = []
    for t in range(start, seq + 1):
        out = np.asarray(run(np.ascontiguousarray(tokens[:, :t])), dtype=np.float64)
        rows.append(out[:, t - 1] if per_token else out)
    series = np.full((tokens.shape[0], seq, *rows[0].shape[1:]), np.nan)
    series[:, start - 1:] = np.stack(rows, axis=1)
    return series


def prefix_start(twin: "Twin") -> int | None:
    """The shortest prefix `twin` reads, or None when it reads one length only (the mlp)."""
    return None if twin.fixed_length is not None else twin.min_seq_len


def reference_prefix_outputs(twin: "Twin", state_dict: Mapping[str, Any], tokens: np.ndarray) -> np.ndarray | None:
    """The reference's per-prefix outputs for `twin` (None: no reference, or one length only);
    run the runtime through `prefix_outputs` with the same `start` and `per_token` to compare."""
    start, fn = prefix_start(twin), get_reference(twin.name)
    if start is None or fn is None:
        return None
    weights = as_numpy_weights(state_dict)  # once, not once per prefix
    return prefix_outputs(lambda x: fn(twin.config, weights, x).outputs, tokens, start=start,
                          per_token=twin.task == "tag")
