"""Shared builders for the recurrent classifiers (`bilstm`, `gru`): Embedding -> [Dropout] ->
N stacked (Bi)LSTM/GRU layers with dropout between them -> final hidden state(s) -> [Dropout] -> head.

The readout is torch's `h_n` of the last layer: [h_fwd at the last step] or, bidirectional,
[h_fwd at the last step, h_bwd after reading back to the first step] concatenated. Keras'
`Bidirectional(LSTM(H))` without `return_sequences` returns exactly that concatenation (its backward
layer runs with `go_backwards=True`, so its last output is the state at position 0), and the layers
stay the standard ones tf2onnx and torch.onnx know how to export.

The config dataclass must have: vocab_size, embed_dim, hidden, num_layers, bidirectional, dropout,
embed_dropout, head_dropout, head ("logits" | "sigmoid"), num_classes and the embedding fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from twinbench.models import transfer as tr
from twinbench.models.registry import OUTPUT_NAME, Twin
from twinbench.models.twins import _common as c



def check_rnn(cfg: Any) -> None:
    c.check_embedding(cfg)
    c.check_positive("hidden", cfg.hidden)
    c.check_positive("num_layers", cfg.num_layers)
    c.check_bool("bidirectional", cfg.bidirectional)
    for name in ("dropout", "embed_dropout", "head_dropout"):
        c.check_fraction(name, getattr(cfg, name))
    c.check_head(cfg)


def build_torch(cfg: Any, kind: str) -> Any:
    import torch
    from torch import nn

    rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
    dirs = 2 if cfg.bidirectional else 1

    class RnnClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = c.torch_embedding(cfg)
            self.embed_dropout = nn.Dropout(cfg.embed_dropout)
            self.rnn = rnn_cls(
                cfg.embed_dim, cfg.hidden, num_layers=cfg.num_layers, batch_first=True,
                bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            )
            self.head_dropout = nn.Dropout(cfg.head_dropout)
            self.logits = nn.Linear(cfg.hidden * dirs, cfg.num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            _, state = self.rnn(self.embed_dropout(self.embedding(tokens)))
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h_n, c_n)
            final = torch.cat([h_n[-2], h_n[-1]], dim=1) if dirs == 2 else h_n[-1]
            out = self.logits(self.head_dropout(final))
            return torch.sigmoid(out) if cfg.head == "sigmoid" else out

    return RnnClassifier()


def build_keras(cfg: Any, kind: str, name: str) -> Any:
    import keras

    layer_cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind]
    tokens = c.keras_tokens()
    x = c.keras_embedding(cfg)(tokens)
    if cfg.embed_dropout > 0:
        x = keras.layers.Dropout(cfg.embed_dropout, name="embed_dropout")(x)
    for i in range(cfg.num_layers):
        last = i == cfg.num_layers - 1
        extra = {"reset_after": True} if kind == "gru" else {}
        if cfg.bidirectional:
            x = keras.layers.Bidirectional(
                layer_cls(cfg.hidden, return_sequences=not last, **extra), merge_mode="concat", name=f"rnn_{i}"
            )(x)
        else:
            x = layer_cls(cfg.hidden, return_sequences=not last, name=f"rnn_{i}", **extra)(x)
        if not last and cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    if cfg.head_dropout > 0:
        x = keras.layers.Dropout(cfg.head_dropout, name="head_dropout")(x)
    activation = "sigmoid" if cfg.head == "sigmoid" else None
    out = keras.layers.Dense(cfg.num_classes, activation=activation, name=OUTPUT_NAME)(x)
    return c.finish_keras(keras.Model(tokens, out, name=name), cfg)


def torch_to_keras(tm: Any, km: Any, kind: str, rnn: str = "rnn") -> None:
    """Embedding -> stacked RNN (torch attribute `rnn`, Keras layers `{rnn}_{i}`) -> Dense `logits`;
    shared by every recurrent twin (the tagger and the seed `lstm` too)."""
    tr.embedding_t2k(tm.embedding, km.get_layer("embedding"))
    stack = getattr(tm, rnn)
    for i in range(stack.num_layers):
        tr.rnn_t2k(kind, stack, i, km.get_layer(f"{rnn}_{i}"))
    tr.dense_t2k(tm.logits, km.get_layer(OUTPUT_NAME))


def keras_to_torch(km: Any, tm: Any, kind: str, rnn: str = "rnn") -> None:
    tr.embedding_k2t(km.get_layer("embedding"), tm.embedding)
    stack = getattr(tm, rnn)
    for i in range(stack.num_layers):
        tr.rnn_k2t(kind, km.get_layer(f"{rnn}_{i}"), stack, i)
    tr.dense_k2t(km.get_layer(OUTPUT_NAME), tm.logits)


@dataclass(frozen=True)
class RnnConfig(c.EmbeddingConfig):
    """Config of the recurrent classifiers; each twin subclasses it only to change a default."""

    hidden: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between stacked layers, training only
    embed_dropout: float = 0.0
    head_dropout: float = 0.0
    head: str = "logits"
    num_classes: int = 2

    def __post_init__(self) -> None:
        check_rnn(self)


def rnn_twin(name: str, kind: str, config: RnnConfig, doc: str) -> Twin:
    """A recurrent classifier twin of `kind` ("lstm" | "gru") built by this module."""
    return Twin(
        name=name, config=config,
        build_torch=partial(build_torch, kind=kind),
        build_keras=partial(build_keras, kind=kind, name=name),
        torch_to_keras=partial(torch_to_keras, kind=kind),
        keras_to_torch=partial(keras_to_torch, kind=kind),
        task="classify", head=config.head, doc=doc,
    )
