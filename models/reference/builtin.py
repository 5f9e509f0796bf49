"""References of the built-in twins, each the forward pass of the twin's torch module in eval mode
(dropout is the identity), read off models/twins/*.py and rewritten from the equations.

Weight names are the torch state dict's. Each twin's readout is copied exactly, since that is where
the twins differ: `lstm` reads the last layer's output at position S-1 (padding included),
`bilstm`/`gru` read torch's h_n of the last layer ([forward at S-1, backward at 0] when
bidirectional), `tagger` keeps every position.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from twinbench.core.errors import DataError
from twinbench.models.reference import ops
from twinbench.models.reference.registry import Reference, register_reference


def _head(cfg: Any, weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The `logits` Linear, then a sigmoid where the twin's head is "sigmoid" (it outputs
    probabilities then, not logits)."""
    out = ops.linear(x, ops.weight(weights, "logits.weight"), ops.weight(weights, "logits.bias"))
    return ops.sigmoid(out) if getattr(cfg, "head", "logits") == "sigmoid" else out


def _embed(weights: Mapping[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    return ops.embedding(ops.weight(weights, "embedding.weight"), tokens)


@register_reference("lstm")
def lstm(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    """Embedding -> stacked LSTM (`lstm`) -> logits of the last layer's state at position S-1."""
    stack = ops.rnn_stack("lstm", weights, "lstm", _embed(weights, tokens),
                          num_layers=cfg.num_layers, bidirectional=False)
    return Reference(_head(cfg, weights, stack.output[:, -1]), stack.steps if trace else {})


def _rnn_classifier(kind: str, cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray,
                    trace: bool) -> Reference:
    """models/twins/_rnn.py: h_n[-1], or [h_n[-2], h_n[-1]] when bidirectional, then the head."""
    stack = ops.rnn_stack(kind, weights, "rnn", _embed(weights, tokens),
                          num_layers=cfg.num_layers, bidirectional=cfg.bidirectional)
    final = np.concatenate(stack.h_n[-2:], axis=1) if cfg.bidirectional else stack.h_n[-1]
    return Reference(_head(cfg, weights, final), stack.steps if trace else {})


@register_reference("bilstm")
def bilstm(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    return _rnn_classifier("lstm", cfg, weights, tokens, trace)


@register_reference("gru")
def gru(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    return _rnn_classifier("gru", cfg, weights, tokens, trace)


@register_reference("tagger")
def tagger(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    """Embedding -> stacked (Bi)LSTM (`rnn`) -> logits at every position [B, S, tags]."""
    stack = ops.rnn_stack("lstm", weights, "rnn", _embed(weights, tokens),
                          num_layers=cfg.num_layers, bidirectional=cfg.bidirectional)
    return Reference(_head(cfg, weights, stack.output), stack.steps if trace else {})


@register_reference("mlp")
def mlp(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    """Embedding -> row-major flatten [B, S*E] -> (Linear, relu) per hidden layer -> head."""
    if tokens.shape[1] != cfg.length:
        raise DataError(f"reference: the mlp reads exactly {cfg.length} tokens, got {tokens.shape[1]}")
    x = _embed(weights, tokens)
    x = x.reshape(x.shape[0], -1)
    for i in range(cfg.num_hidden_layers):
        x = ops.relu(ops.linear(x, ops.weight(weights, f"hidden.{i}.weight"), ops.weight(weights, f"hidden.{i}.bias")))
    return Reference(_head(cfg, weights, x))


@register_reference("cnn")
def cnn(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    """Embedding -> per kernel width: valid Conv1d, relu, max over positions -> concat -> logits."""
    x = _embed(weights, tokens)
    pooled = [ops.relu(ops.conv1d_valid(x, ops.weight(weights, f"convs.{i}.weight"),
                                        ops.weight(weights, f"convs.{i}.bias"))).max(axis=1)
              for i in range(len(cfg.kernel_sizes))]
    return Reference(_head(cfg, weights, np.concatenate(pooled, axis=1)))


def _encoder_block(x: np.ndarray, weights: Mapping[str, np.ndarray], p: str, heads: int, eps: float) -> np.ndarray:
    """Post-norm block, no mask (padding is attended to):
      q, k, v = x Wq^T + bq, ... split into heads of d = E / heads; q scaled by 1/sqrt(d)
      a = softmax(q k^T) per head over keys;  ctx = a v, heads concatenated
      x = LN1(x + ctx Wo^T + bo);  x = LN2(x + W2 relu(W1 x + b1) + b2)"""
    def lin(name: str, v: np.ndarray) -> np.ndarray:
        return ops.linear(v, ops.weight(weights, f"{p}.{name}.weight"), ops.weight(weights, f"{p}.{name}.bias"))

    b, s, e = x.shape
    d = e // heads

    def split(v: np.ndarray) -> np.ndarray:  # [B, S, E] -> [B, heads, S, d]
        return v.reshape(b, s, heads, d).transpose(0, 2, 1, 3)

    q = split(lin("query", x)) * (1.0 / d**0.5)
    k, v = split(lin("key", x)), split(lin("value", x))
    ctx = (ops.softmax(q @ k.transpose(0, 1, 3, 2)) @ v).transpose(0, 2, 1, 3).reshape(b, s, e)
    x = ops.layer_norm(x + lin("out", ctx), ops.weight(weights, f"{p}.norm1.weight"),
                       ops.weight(weights, f"{p}.norm1.bias"), eps)
    ff = lin("ff2", ops.relu(lin("ff1", x)))
    return ops.layer_norm(x + ff, ops.weight(weights, f"{p}.norm2.weight"), ops.weight(weights, f"{p}.norm2.bias"), eps)


@register_reference("transformer")
def transformer(cfg: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *, trace: bool = False) -> Reference:
    """token embedding + learned position rows 0..S-1 -> encoder blocks -> mean over all positions
    (padding included) or position 0 -> logits."""
    positions = ops.weight(weights, "positions.weight")
    if tokens.shape[1] > positions.shape[0]:
        raise DataError(f"reference: the transformer reads at most {positions.shape[0]} tokens, got {tokens.shape[1]}")
    x = _embed(weights, tokens) + positions[: tokens.shape[1]]
    for i in range(cfg.num_layers):
        x = _encoder_block(x, weights, f"blocks.{i}", cfg.num_heads, float(cfg.layer_norm_eps))
    return Reference(_head(cfg, weights, x.mean(axis=1) if cfg.pool == "mean" else x[:, 0]))
