"""`lstm`: Embedding -> LSTM (stacked if num_layers > 1) -> Dense logits on the LAST time step.

The last time step is read even when it is padding (right padding, no masking), exactly as the
seed notebook does, so both frameworks compute the same function on the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _rnn, _strategies


@dataclass(frozen=True)
class LstmConfig(c.EmbeddingConfig):
    hidden: int = 32
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers, training only
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        c.check_positive("hidden", self.hidden)
        c.check_positive("num_layers", self.num_layers)
        c.check_fraction("dropout", self.dropout)
        c.check_positive("num_classes", self.num_classes)


def build_torch(cfg: LstmConfig) -> Any:
    import torch
    from torch import nn

    class LstmClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = c.torch_embedding(cfg)
            self.lstm = nn.LSTM(
                cfg.embed_dim, cfg.hidden, num_layers=cfg.num_layers, batch_first=True,
                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            )
            self.logits = nn.Linear(cfg.hidden, cfg.num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(self.embedding(tokens))
            return self.logits(out[:, -1])

    return LstmClassifier()


def build_keras(cfg: LstmConfig) -> Any:
    import keras

    tokens = c.keras_tokens()
    x = c.keras_embedding(cfg)(tokens)
    for i in range(cfg.num_layers):
        last = i == cfg.num_layers - 1
        x = keras.layers.LSTM(cfg.hidden, return_sequences=not last, name=f"lstm_{i}")(x)
        if not last and cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(cfg.num_classes, name=OUTPUT_NAME)(x)
    return c.finish_keras(keras.Model(tokens, logits, name="lstm"), cfg)


@register_twin("lstm", configs=partial(_strategies.configs, rnn=True, classes=True))
def lstm(**overrides: Any) -> Twin:
    """The seed notebook's twin: Embedding(16) -> LSTM(32) -> Dense(2) on the last time step."""
    return Twin(
        name="lstm", config=LstmConfig(**overrides), build_torch=build_torch, build_keras=build_keras,
        torch_to_keras=partial(_rnn.torch_to_keras, kind="lstm", rnn="lstm"),
        keras_to_torch=partial(_rnn.keras_to_torch, kind="lstm", rnn="lstm"), task="classify",
        doc="Embedding -> LSTM -> Dense on the last time step (padding included, no masking)",
    )
