"""The layers of the built-in twins, written from their equations in float64 NumPy.

Every function takes weights in torch's layout (Linear weight [out, in], Conv1d weight
[out, in, k], RNN gates stacked along axis 0 of weight_ih / weight_hh / bias_ih / bias_hh) because
the reference reads the torch state dict; docs/parity.md ("The NumPy reference") lists the
equations and how Keras stores the same numbers. Nothing here calls a framework: a shared bug
between torch and a transfer cannot hide in a kernel this module also uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from twinbench.core.errors import ConfigError, DataError

F64 = np.float64


def weight(weights: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """`weights[name]` as float64; a missing name means the state dict is not this twin's."""
    try:
        return np.asarray(weights[name], dtype=F64)
    except KeyError:
        raise ConfigError(f"reference: the state dict has no {name!r} (not this twin's weights?)") from None


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), written as (1 + tanh(x/2)) / 2: the same number without exp overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """y = x W^T + b on the last axis (torch Linear layout; Keras' kernel is W^T)."""
    y = x @ w.T
    return y if b is None else y + b


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis, var biased (1/N), as both
    frameworks define it; only their default eps differs (torch 1e-5, Keras 1e-3)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def embedding(table: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Row lookup; ids outside the table are refused as torch refuses them (Keras on CPU too)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise DataError(f"reference: tokens must be an integer array [batch, seq], got {tokens.dtype} {tokens.shape}")
    if tokens.shape[1] == 0:
        raise DataError("reference: tokens must have at least one position")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= table.shape[0]):
        raise DataError(f"reference: token ids must be in [0, {table.shape[0]}), got "
                        f"[{tokens.min()}, {tokens.max()}]")
    return table[tokens]


def conv1d_valid(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x [B, S, C_in], torch weight [C_out, C_in, k] -> [B, S-k+1, C_out] ("valid", stride 1):
    y[t, o] = b[o] + sum_{c, j} W[o, c, j] x[t + j, c] (a cross-correlation, as in both frameworks)."""
    k = w.shape[2]
    if x.shape[1] < k:
        raise DataError(f"reference: a width-{k} convolution needs at least {k} tokens, got {x.shape[1]}")
    windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)  # [B, S-k+1, C_in, k]
    flat = windows.reshape(x.shape[0], windows.shape[1], -1)
    return flat @ w.reshape(w.shape[0], -1).T + b


# -- recurrent layers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RnnWeights:
    """One direction of one layer, torch layout: w_ih [G*H, in], w_hh [G*H, H], b_ih, b_hh [G*H]."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray

    @classmethod
    def read(cls, weights: Mapping[str, np.ndarray], prefix: str, layer: int, reverse: bool) -> "RnnWeights":
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        return cls(*(weight(weights, f"{prefix}.{kind}{sfx}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))


def _time_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def lstm_direction(x: np.ndarray, p: RnnWeights, reverse: bool = False) -> np.ndarray:
    """h_t for every position t of x [B, S, in] -> [B, S, H], zero initial state.

    Gates in torch's (and Keras') packing order i, f, g, o:
      i = sig(W_ii x + b_ii + W_hi h + b_hi)   f = sig(...)   g = tanh(...)   o = sig(...)
      c_t = f * c_{t-1} + i * g                h_t = o * tanh(c_t)
    The reverse direction reads positions S-1 .. 0; its h at position t has read x[t:]."""
    hidden = p.w_hh.shape[1]
    xw = x @ p.w_ih.T + p.b_ih  # every position's input term at once; the recurrence is the loop
    h = np.zeros((x.shape[0], hidden), dtype=F64)
    c = np.zeros_like(h)
    out = np.empty((x.shape[0], x.shape[1], hidden), dtype=F64)
    for t in _time_order(x.shape[1], reverse):
        gates = xw[:, t] + (h @ p.w_hh.T + p.b_hh)
        i, f, g, o = np.split(gates, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out[:, t] = h
    return out


def gru_direction(x: np.ndarray, p: RnnWeights, reverse: bool = False) -> np.ndarray:
    """h_t for every position of x [B, S, in] -> [B, S, H], zero initial state, torch's GRU
    (= Keras GRU with reset_after=True), gates packed r, z, n:
      r = sig(W_ir x + b_ir + W_hr h + b_hr)   z = sig(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      h_t = (1 - z) * n + z * h_{t-1}"""
    hidden = p.w_hh.shape[1]
    xw = x @ p.w_ih.T + p.b_ih
    h = np.zeros((x.shape[0], hidden), dtype=F64)
    out = np.empty((x.shape[0], x.shape[1], hidden), dtype=F64)
    for t in _time_order(x.shape[1], reverse):
        x_r, x_z, x_n = np.split(xw[:, t], 3, axis=1)
        h_r, h_z, h_n = np.split(h @ p.w_hh.T + p.b_hh, 3, axis=1)
        r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        h = (1.0 - z) * n + z * h
        out[:, t] = h
    return out


DIRECTIONS = {"lstm": lstm_direction, "gru": gru_direction}


@dataclass(frozen=True)
class StackResult:
    """`output`: the last layer's states [B, S, dirs*H] (forward then backward, torch's `output`);
    `h_n`: final state per layer and direction, in torch's h_n order (l0, l0_reverse, l1, ...);
    `steps`: per-position states per layer and direction, named `{name}_{layer}[_reverse]`."""

    output: np.ndarray
    h_n: list[np.ndarray]
    steps: dict[str, np.ndarray]


def rnn_stack(kind: str, weights: Mapping[str, np.ndarray], prefix: str, x: np.ndarray, *,
              num_layers: int, bidirectional: bool, name: str | None = None) -> StackResult:
    """torch.nn.LSTM / GRU (batch_first, zero initial state, eval: no inter-layer dropout).

    Each layer reads the previous layer's [forward, backward] states concatenated per position.
    The final forward state is the one at position S-1; the final backward state is at position 0
    (it has read the whole sequence backwards)."""
    direction = DIRECTIONS[kind]
    name = name or prefix
    steps: dict[str, np.ndarray] = {}
    h_n: list[np.ndarray] = []
    for layer in range(num_layers):
        fwd = direction(x, RnnWeights.read(weights, prefix, layer, False))
        steps[f"{name}_{layer}"] = fwd
        h_n.append(fwd[:, -1])
        outs = [fwd]
        if bidirectional:
            bwd = direction(x, RnnWeights.read(weights, prefix, layer, True), reverse=True)
            steps[f"{name}_{layer}_reverse"] = bwd
            h_n.append(bwd[:, 0])
            outs.append(bwd)
        x = np.concatenate(outs, axis=2) if bidirectional else fwd
    return StackResult(output=x, h_n=h_n, steps=steps)
