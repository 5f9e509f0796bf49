"""Exact weight transfer between torch modules and Keras layers.

Every function here moves numbers only; it never builds a layer. Each pair (`*_t2k`, `*_k2t`) is
exact in both directions except where a framework has fewer parameters than the other (the RNN
biases: Keras keeps one sum where torch keeps `bias_ih` and `bias_hh`; going back, the sum goes into
`bias_ih` and zeros into `bias_hh`, which is the same function).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: Keras GRU packs gates (update z, reset r, new n); torch packs (r, z, n).
_GRU_TORCH_TO_KERAS = (1, 0, 2)


def to_numpy(param: "torch.Tensor") -> np.ndarray:
    """A float32 copy of a torch parameter (Keras weights are float32)."""
    return param.detach().cpu().numpy().astype(np.float32, copy=True)


def assign(param: "torch.Tensor", value: np.ndarray) -> None:
    """Copy `value` into a torch parameter in place, checking the shape (no silent broadcast)."""
    import torch

    value = np.asarray(value)
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(f"shape mismatch: torch {tuple(param.shape)} vs keras {tuple(value.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.dtype))


def set_keras(layer: Any, weights: list[np.ndarray]) -> None:
    """`layer.set_weights` with a shape check that names the layer."""
    current = layer.get_weights()
    if len(current) != len(weights):
        raise ValueError(f"layer {layer.name!r}: {len(current)} weights expected, got {len(weights)}")
    for have, new in zip(current, weights):
        if have.shape != new.shape:
            raise ValueError(f"layer {layer.name!r}: shape {have.shape} expected, got {new.shape}")
    layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])


# -- embedding, dense, layer norm, conv -------------------------------------------------------------


def embedding_t2k(emb: "torch.nn.Embedding", layer: Any) -> None:
    set_keras(layer, [to_numpy(emb.weight)])


def embedding_k2t(layer: Any, emb: "torch.nn.Embedding") -> None:
    assign(emb.weight, layer.get_weights()[0])


def dense_t2k(linear: "torch.nn.Linear", layer: Any) -> None:
    """torch weight is [out, in]; Keras kernel is [in, out]."""
    set_keras(layer, [to_numpy(linear.weight).T, to_numpy(linear.bias)])


def dense_k2t(layer: Any, linear: "torch.nn.Linear") -> None:
    kernel, bias = layer.get_weights()
    assign(linear.weight, kernel.T)
    assign(linear.bias, bias)


def layernorm_t2k(norm: "torch.nn.LayerNorm", layer: Any) -> None:
    set_keras(layer, [to_numpy(norm.weight), to_numpy(norm.bias)])


def layernorm_k2t(layer: Any, norm: "torch.nn.LayerNorm") -> None:
    gamma, beta = layer.get_weights()
    assign(norm.weight, gamma)
    assign(norm.bias, beta)


def conv1d_t2k(conv: "torch.nn.Conv1d", layer: Any) -> None:
    """torch weight is [out, in, k]; Keras Conv1D kernel is [k, in, out]."""
    set_keras(layer, [to_numpy(conv.weight).transpose(2, 1, 0), to_numpy(conv.bias)])


def conv1d_k2t(layer: Any, conv: "torch.nn.Conv1d") -> None:
    kernel, bias = layer.get_weights()
    assign(conv.weight, kernel.transpose(2, 1, 0))
    assign(conv.bias, bias)


# -- recurrent layers -------------------------------------------------------------------------------


def _rnn_params(rnn: "torch.nn.RNNBase", layer: int, reverse: bool) -> tuple[str, ...]:
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    return tuple(f"{kind}{sfx}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def lstm_t2k(rnn: "torch.nn.LSTM", layer: int = 0, reverse: bool = False) -> list[np.ndarray]:
    """Keras LSTM weights [kernel [in,4H], recurrent_kernel [H,4H], bias [4H]] from one torch
    direction of one layer. Both frameworks pack gates (i, f, g, o): a transpose suffices."""
    w_ih, w_hh, b_ih, b_hh = (to_numpy(getattr(rnn, n)) for n in _rnn_params(rnn, layer, reverse))
    return [w_ih.T, w_hh.T, b_ih + b_hh]


def lstm_k2t(weights: list[np.ndarray], rnn: "torch.nn.LSTM", layer: int = 0, reverse: bool = False) -> None:
    """Inverse of `lstm_t2k`: the Keras bias goes into `bias_ih`, zeros into `bias_hh`."""
    kernel, recurrent, bias = weights
    n_ih, n_hh, n_bih, n_bhh = _rnn_params(rnn, layer, reverse)
    assign(getattr(rnn, n_ih), kernel.T)
    assign(getattr(rnn, n_hh), recurrent.T)
    assign(getattr(rnn, n_bih), bias)
    assign(getattr(rnn, n_bhh), np.zeros_like(bias))


def fold_lstm_biases(torch_model: "torch.nn.Module") -> int:
    """Put each torch LSTM/RNN `bias_hh` into `bias_ih` and freeze it at zero; returns how many.

    Keras keeps ONE bias per LSTM where torch trains two whose sum is the same function (`lstm_t2k`
    adds them): both get the same gradient, so under SGD or Adam their sum moves twice as far per
    step as Keras' bias (measured: 1e-2 relative weight difference after the first step). Folding
    keeps the function and makes the two parametrisations train identically. GRU is untouched:
    both sides keep two biases."""
    import torch

    folded = 0
    for module in torch_model.modules():
        if isinstance(module, (torch.nn.LSTM, torch.nn.RNN)) and module.bias:
            for name, param in module.named_parameters():
                if name.startswith("bias_hh"):
                    ih = getattr(module, name.replace("bias_hh", "bias_ih"))
                    with torch.no_grad():
                        ih.add_(param)
                        param.zero_()
                    param.requires_grad_(False)
                    folded += 1
    return folded


def _regate(a: np.ndarray, order: tuple[int, ...], axis: int) -> np.ndarray:
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[i] for i in order], axis=axis)


def gru_t2k(rnn: "torch.nn.GRU", layer: int = 0, reverse: bool = False) -> list[np.ndarray]:
    """Keras GRU (reset_after=True) weights [kernel [in,3H], recurrent_kernel [H,3H], bias [2,3H]]:
    gates reordered from torch (r, z, n) to Keras (z, r, n); bias row 0 is input, row 1 recurrent.
    Both biases exist on both sides, so this direction and its inverse are exact."""
    w_ih, w_hh, b_ih, b_hh = (to_numpy(getattr(rnn, n)) for n in _rnn_params(rnn, layer, reverse))
    o = _GRU_TORCH_TO_KERAS
    return [_regate(w_ih, o, 0).T, _regate(w_hh, o, 0).T, np.stack([_regate(b_ih, o, 0), _regate(b_hh, o, 0)])]


def gru_k2t(weights: list[np.ndarray], rnn: "torch.nn.GRU", layer: int = 0, reverse: bool = False) -> None:
    kernel, recurrent, bias = weights
    o = _GRU_TORCH_TO_KERAS  # swapping blocks 0 and 1 is its own inverse
    n_ih, n_hh, n_bih, n_bhh = _rnn_params(rnn, layer, reverse)
    assign(getattr(rnn, n_ih), _regate(kernel.T, o, 0))
    assign(getattr(rnn, n_hh), _regate(recurrent.T, o, 0))
    assign(getattr(rnn, n_bih), _regate(bias[0], o, 0))
    assign(getattr(rnn, n_bhh), _regate(bias[1], o, 0))


_RNN = {"lstm": (lstm_t2k, lstm_k2t), "gru": (gru_t2k, gru_k2t)}


def rnn_t2k(kind: str, rnn: "torch.nn.RNNBase", layer: int, keras_layer: Any) -> None:
    """One torch RNN layer into a Keras LSTM/GRU or Bidirectional(LSTM/GRU) layer.

    Keras `Bidirectional.get_weights()` lists the forward layer's weights, then the backward's."""
    t2k = _RNN[kind][0]
    weights = t2k(rnn, layer, False)
    if rnn.bidirectional:
        weights = weights + t2k(rnn, layer, True)
    set_keras(keras_layer, weights)


def rnn_k2t(kind: str, keras_layer: Any, rnn: "torch.nn.RNNBase", layer: int) -> None:
    k2t = _RNN[kind][1]
    weights = keras_layer.get_weights()
    expected = 6 if rnn.bidirectional else 3
    if len(weights) != expected:
        raise ValueError(f"layer {keras_layer.name!r}: {expected} weights expected, got {len(weights)}")
    k2t(weights[:3], rnn, layer, False)
    if rnn.bidirectional:
        k2t(weights[3:], rnn, layer, True)
