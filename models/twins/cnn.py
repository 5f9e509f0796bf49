"""`cnn`: Embedding -> parallel Conv1d (widths 3/4/5, "valid" padding) -> relu -> max over time ->
concat -> [Dropout] -> Dense logits (Kim-style sentence CNN).

torch Conv1d reads [B, E, S] with weight [out, in, k]; Keras Conv1D reads [B, S, E] with kernel
[k, in, out]: `transfer.conv1d_t2k` transposes (2, 1, 0). With "valid" padding a sequence shorter
than the widest kernel has no output position: torch and Keras (TF on CPU) both raise, so
**inputs must have at least `max(kernel_sizes)` tokens**: the twin declares it as `Twin.min_seq_len`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twinbench.models import transfer as tr
from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _strategies


@dataclass(frozen=True)
class CnnConfig(c.EmbeddingConfig):
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    filters: int = 16  # per kernel size
    dropout: float = 0.0  # before the head, training only
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.kernel_sizes, list):  # TOML/JSON give lists; keep the config hashable
            object.__setattr__(self, "kernel_sizes", tuple(self.kernel_sizes))
        if not isinstance(self.kernel_sizes, tuple) or not self.kernel_sizes:
            raise ValueError(f"kernel_sizes: must be a non-empty list of positive integers, got {self.kernel_sizes!r}")
        for k in self.kernel_sizes:
            c.check_positive("kernel_sizes", k)
        c.check_positive("filters", self.filters)
        c.check_fraction("dropout", self.dropout)
        c.check_positive("num_classes", self.num_classes)


def min_seq_len(cfg: CnnConfig) -> int:
    """The shortest input both frameworks accept ("valid" convolution)."""
    return max(cfg.kernel_sizes)


def build_torch(cfg: CnnConfig) -> Any:
    import torch
    from torch import nn

    class CnnClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = c.torch_embedding(cfg)
            self.convs = nn.ModuleList(nn.Conv1d(cfg.embed_dim, cfg.filters, k) for k in cfg.kernel_sizes)
            self.dropout = nn.Dropout(cfg.dropout)
            self.logits = nn.Linear(cfg.filters * len(cfg.kernel_sizes), cfg.num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.embedding(tokens).transpose(1, 2)  # [B, E, S]
            pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]
            return self.logits(self.dropout(torch.cat(pooled, dim=1)))

    return CnnClassifier()


def build_keras(cfg: CnnConfig) -> Any:
    import keras

    tokens = c.keras_tokens()
    x = c.keras_embedding(cfg)(tokens)
    pooled = []
    for i, k in enumerate(cfg.kernel_sizes):
        y = keras.layers.Conv1D(cfg.filters, k, padding="valid", activation="relu", name=f"conv_{i}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"maxpool_{i}")(y))
    x = keras.layers.Concatenate(name="concat")(pooled) if len(pooled) > 1 else pooled[0]
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    out = keras.layers.Dense(cfg.num_classes, name=OUTPUT_NAME)(x)
    return c.finish_keras(keras.Model(tokens, out, name="cnn"), cfg)


torch_to_keras, keras_to_torch = c.stack_transfers("convs", "conv", tr.conv1d_t2k, tr.conv1d_k2t)


def _configs() -> Any:
    from hypothesis import strategies as st

    return _strategies.configs(classes=True, filters=st.integers(1, 5),
                               kernel_sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3))


@register_twin("cnn", configs=_configs)
def cnn(**overrides: Any) -> Twin:
    """Convolutional sentence classifier; needs sequences of at least max(kernel_sizes) tokens."""
    cfg = CnnConfig(**overrides)
    return Twin(
        name="cnn", config=cfg, build_torch=build_torch, build_keras=build_keras,
        torch_to_keras=torch_to_keras, keras_to_torch=keras_to_torch, task="classify",
        min_seq_len=min_seq_len(cfg),
        doc="Embedding -> Conv1d(3/4/5) -> relu -> max over time -> concat -> Dense (seq >= widest kernel)",
    )
