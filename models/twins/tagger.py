"""`tagger`: Embedding -> (Bi)LSTM returning sequences -> Dropout -> per-token Dense(num_tags) logits.

Output is [batch, seq, num_tags] (task "tag"); tag 0 is padding by the data contract. No masking:
padding positions get logits too and the loss is expected to ignore tag 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _rnn, _strategies


@dataclass(frozen=True)
class TaggerConfig(c.EmbeddingConfig):
    hidden: int = 32
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3  # after the recurrent stack (and between layers), training only
    num_tags: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        c.check_positive("hidden", self.hidden)
        c.check_positive("num_layers", self.num_layers)
        c.check_bool("bidirectional", self.bidirectional)
        c.check_fraction("dropout", self.dropout)
        c.check_positive("num_tags", self.num_tags)


def build_torch(cfg: TaggerConfig) -> Any:
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = c.torch_embedding(cfg)
            self.rnn = nn.LSTM(
                cfg.embed_dim, cfg.hidden, num_layers=cfg.num_layers, batch_first=True,
                bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            )
            self.dropout = nn.Dropout(cfg.dropout)
            self.logits = nn.Linear(cfg.hidden * (2 if cfg.bidirectional else 1), cfg.num_tags)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(self.embedding(tokens))
            return self.logits(self.dropout(out))

    return Tagger()


def build_keras(cfg: TaggerConfig) -> Any:
    import keras

    tokens = c.keras_tokens()
    x = c.keras_embedding(cfg)(tokens)
    for i in range(cfg.num_layers):
        rnn = keras.layers.LSTM(cfg.hidden, return_sequences=True, name=None if cfg.bidirectional else f"rnn_{i}")
        if cfg.bidirectional:
            rnn = keras.layers.Bidirectional(rnn, merge_mode="concat", name=f"rnn_{i}")
        x = rnn(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    out = keras.layers.Dense(cfg.num_tags, name=OUTPUT_NAME)(x)  # Dense acts on the last axis: per token
    return c.finish_keras(keras.Model(tokens, out, name="tagger"), cfg)


@register_twin("tagger", configs=partial(_strategies.configs, rnn=True, bidirectional=True, tags=True))
def tagger(**overrides: Any) -> Twin:
    """POS-style sequence tagger: logits for every token."""
    return Twin(
        name="tagger", config=TaggerConfig(**overrides), build_torch=build_torch, build_keras=build_keras,
        torch_to_keras=partial(_rnn.torch_to_keras, kind="lstm"),
        keras_to_torch=partial(_rnn.keras_to_torch, kind="lstm"), task="tag",
        doc="Embedding -> BiLSTM(return sequences) -> Dropout -> per-token Dense(num_tags)",
    )
