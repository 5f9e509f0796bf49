"""`mlp`: Embedding -> Flatten -> Dense(relu) x num_hidden_layers -> Dense head.

Flatten needs one sequence length, so this twin sets `Twin.fixed_length = length` (and names
`length` as the field the pipeline fills from the data) and the Keras input has shape (length,). Both frameworks flatten [B, L, E] row-major into [B, L*E], so the first
Dense kernel transfers with a plain transpose. Textbook baseline:
`get_twin("mlp", vocab_size=20000, embed_dim=128, length=200, hidden=64, head="sigmoid", num_classes=1)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twinbench.models import transfer as tr
from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _strategies


@dataclass(frozen=True)
class MlpConfig(c.EmbeddingConfig):
    length: int = 16
    hidden: int = 32
    num_hidden_layers: int = 2
    dropout: float = 0.0  # after each hidden layer, training only
    head: str = "logits"
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        c.check_positive("length", self.length)
        c.check_positive("hidden", self.hidden)
        c.check_positive("num_hidden_layers", self.num_hidden_layers)
        c.check_fraction("dropout", self.dropout)
        c.check_head(self)


def build_torch(cfg: MlpConfig) -> Any:
    import torch
    from torch import nn

    class MlpClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = c.torch_embedding(cfg)
            sizes = [cfg.length * cfg.embed_dim] + [cfg.hidden] * cfg.num_hidden_layers
            self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
            self.dropout = nn.Dropout(cfg.dropout)
            self.logits = nn.Linear(cfg.hidden, cfg.num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = torch.flatten(self.embedding(tokens), start_dim=1)
            for layer in self.hidden:
                x = self.dropout(torch.relu(layer(x)))
            out = self.logits(x)
            return torch.sigmoid(out) if cfg.head == "sigmoid" else out

    return MlpClassifier()


def build_keras(cfg: MlpConfig) -> Any:
    import keras

    tokens = c.keras_tokens(cfg.length)
    x = keras.layers.Flatten(name="flatten")(c.keras_embedding(cfg)(tokens))
    for i in range(cfg.num_hidden_layers):
        x = keras.layers.Dense(cfg.hidden, activation="relu", name=f"hidden_{i}")(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    activation = "sigmoid" if cfg.head == "sigmoid" else None
    out = keras.layers.Dense(cfg.num_classes, activation=activation, name=OUTPUT_NAME)(x)
    return c.finish_keras(keras.Model(tokens, out, name="mlp"), cfg)


torch_to_keras, keras_to_torch = c.stack_transfers("hidden", "hidden", tr.dense_t2k, tr.dense_k2t)


def _configs() -> Any:
    from hypothesis import strategies as st

    return _strategies.configs(head=True, length=st.integers(1, 5), hidden=st.integers(1, 5),
                               num_hidden_layers=st.integers(1, 3))


@register_twin("mlp", configs=_configs)
def mlp(**overrides: Any) -> Twin:
    """Bag-of-positions baseline; accepts only sequences of exactly `length` tokens."""
    cfg = MlpConfig(**overrides)
    return Twin(
        name="mlp", config=cfg, build_torch=build_torch, build_keras=build_keras,
        torch_to_keras=torch_to_keras, keras_to_torch=keras_to_torch, task="classify", head=cfg.head,
        fixed_length=cfg.length, length_field="length", doc="Embedding -> Flatten -> Dense(relu) x2 -> Dense (fixed length)",
    )
