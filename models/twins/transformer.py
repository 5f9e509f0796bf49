"""`transformer`: token embedding + learned positions -> N post-norm encoder blocks (multi-head
self-attention, residual + LayerNorm, relu feed-forward, residual + LayerNorm) -> mean-pool or first
token -> Dense logits.

The torch side is written out with plain Linear layers (no nn.TransformerEncoderLayer fast path, so
eval, float64 golden runs and both ONNX exporters see the same ops); the Keras side uses the stock
`MultiHeadAttention`, whose per-head kernels [E, heads, head_dim] are torch's [E, E] weights
reshaped. LayerNorm epsilon is set explicitly on both sides (torch default 1e-5, Keras 1e-3).
No padding mask: like the recurrent twins, padding tokens are attended to and pooled.
Sequences longer than `max_len` are invalid (no position embedding for them): the twin declares
`max_seq_len = max_len`, and `max_len` is the field the pipeline sizes to the data (`length_field`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from twinbench.models import transfer as tr
from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _strategies


@dataclass(frozen=True)
class TransformerConfig(c.EmbeddingConfig):
    embed_dim: int = 32
    num_heads: int = 4
    ff_dim: int = 64
    num_layers: int = 1
    max_len: int = 128
    dropout: float = 0.0  # on attention output and feed-forward output, training only
    pool: str = "mean"
    layer_norm_eps: float = 1e-5
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        c.check_positive("num_heads", self.num_heads)
        c.check_heads("embed_dim", self.embed_dim, self.num_heads)
        c.check_positive("ff_dim", self.ff_dim)
        c.check_positive("num_layers", self.num_layers)
        c.check_positive("max_len", self.max_len)
        c.check_fraction("dropout", self.dropout)
        c.check_choice("pool", self.pool, ("mean", "first"))
        if not isinstance(self.layer_norm_eps, (int, float)) or not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps: must be a positive number, got {self.layer_norm_eps!r}")
        c.check_positive("num_classes", self.num_classes)


def build_torch(cfg: TransformerConfig) -> Any:
    import torch
    from torch import nn

    heads, head_dim = cfg.num_heads, cfg.embed_dim // cfg.num_heads

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            e = cfg.embed_dim
            self.query, self.key, self.value, self.out = (nn.Linear(e, e) for _ in range(4))
            self.norm1 = nn.LayerNorm(e, eps=cfg.layer_norm_eps)
            self.ff1, self.ff2 = nn.Linear(e, cfg.ff_dim), nn.Linear(cfg.ff_dim, e)
            self.norm2 = nn.LayerNorm(e, eps=cfg.layer_norm_eps)
            self.dropout = nn.Dropout(cfg.dropout)

        def _split(self, t: torch.Tensor) -> torch.Tensor:  # [B, S, E] -> [B, heads, S, head_dim]
            return t.reshape(t.shape[0], t.shape[1], heads, head_dim).transpose(1, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = self._split(self.query(x)) * (1.0 / head_dim**0.5)  # scaled like Keras: q first
            k, v = self._split(self.key(x)), self._split(self.value(x))
            att = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], cfg.embed_dim)
            x = self.norm1(x + self.dropout(self.out(ctx)))
            return self.norm2(x + self.dropout(self.ff2(torch.relu(self.ff1(x)))))

    class TransformerClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = c.torch_embedding(cfg)
            self.positions = nn.Embedding(cfg.max_len, cfg.embed_dim)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg.num_layers))
            self.logits = nn.Linear(cfg.embed_dim, cfg.num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.embedding(tokens) + self.positions.weight[: tokens.shape[1]]
            for block in self.blocks:
                x = block(x)
            return self.logits(x.mean(dim=1) if cfg.pool == "mean" else x[:, 0])

    return TransformerClassifier()


def build_keras(cfg: TransformerConfig) -> Any:
    import keras
    from keras import layers, ops

    tokens = c.keras_tokens()
    position_ids = ops.cumsum(ops.ones_like(tokens), axis=1) - 1  # 0..S-1 for a dynamic S
    x = c.keras_embedding(cfg)(tokens) + layers.Embedding(cfg.max_len, cfg.embed_dim, name="positions")(position_ids)
    for i in range(cfg.num_layers):
        att = layers.MultiHeadAttention(cfg.num_heads, cfg.embed_dim // cfg.num_heads, name=f"attn_{i}")(x, x)
        if cfg.dropout > 0:
            att = layers.Dropout(cfg.dropout, name=f"attn_dropout_{i}")(att)
        x = layers.LayerNormalization(epsilon=cfg.layer_norm_eps, name=f"norm1_{i}")(x + att)
        ff = layers.Dense(cfg.ff_dim, activation="relu", name=f"ff1_{i}")(x)
        ff = layers.Dense(cfg.embed_dim, name=f"ff2_{i}")(ff)
        if cfg.dropout > 0:
            ff = layers.Dropout(cfg.dropout, name=f"ff_dropout_{i}")(ff)
        x = layers.LayerNormalization(epsilon=cfg.layer_norm_eps, name=f"norm2_{i}")(x + ff)
    pooled = layers.GlobalAveragePooling1D(name="pool")(x) if cfg.pool == "mean" else x[:, 0, :]
    out = layers.Dense(cfg.num_classes, name=OUTPUT_NAME)(pooled)
    return c.finish_keras(keras.Model(tokens, out, name="transformer"), cfg)


def _attn_t2k(block: Any, layer: Any, heads: int) -> list[np.ndarray]:
    """Keras MHA weights, in its get_weights order: query, key, value (kernel [E, h, d], bias [h, d]),
    then output (kernel [h, d, E], bias [E])."""
    e = block.query.weight.shape[0]
    d = e // heads
    weights = []
    for lin in (block.query, block.key, block.value):
        weights += [tr.to_numpy(lin.weight).T.reshape(e, heads, d), tr.to_numpy(lin.bias).reshape(heads, d)]
    weights += [tr.to_numpy(block.out.weight).T.reshape(heads, d, e), tr.to_numpy(block.out.bias)]
    return weights


def torch_to_keras(tm: Any, km: Any) -> None:
    tr.embedding_t2k(tm.embedding, km.get_layer("embedding"))
    tr.embedding_t2k(tm.positions, km.get_layer("positions"))
    for i, block in enumerate(tm.blocks):
        layer = km.get_layer(f"attn_{i}")
        tr.set_keras(layer, _attn_t2k(block, layer, layer.num_heads))
        tr.layernorm_t2k(block.norm1, km.get_layer(f"norm1_{i}"))
        tr.dense_t2k(block.ff1, km.get_layer(f"ff1_{i}"))
        tr.dense_t2k(block.ff2, km.get_layer(f"ff2_{i}"))
        tr.layernorm_t2k(block.norm2, km.get_layer(f"norm2_{i}"))
    tr.dense_t2k(tm.logits, km.get_layer(OUTPUT_NAME))


def keras_to_torch(km: Any, tm: Any) -> None:
    tr.embedding_k2t(km.get_layer("embedding"), tm.embedding)
    tr.embedding_k2t(km.get_layer("positions"), tm.positions)
    for i, block in enumerate(tm.blocks):
        w = km.get_layer(f"attn_{i}").get_weights()
        e = block.query.weight.shape[0]
        for j, lin in enumerate((block.query, block.key, block.value)):
            tr.assign(lin.weight, w[2 * j].reshape(e, e).T)
            tr.assign(lin.bias, w[2 * j + 1].reshape(e))
        tr.assign(block.out.weight, w[6].reshape(e, e).T)
        tr.assign(block.out.bias, w[7])
        tr.layernorm_k2t(km.get_layer(f"norm1_{i}"), block.norm1)
        tr.dense_k2t(km.get_layer(f"ff1_{i}"), block.ff1)
        tr.dense_k2t(km.get_layer(f"ff2_{i}"), block.ff2)
        tr.layernorm_k2t(km.get_layer(f"norm2_{i}"), block.norm2)
    tr.dense_k2t(km.get_layer(OUTPUT_NAME), tm.logits)


def _configs() -> Any:
    """embed_dim is drawn as a multiple of num_heads, which the config requires."""
    from hypothesis import strategies as st

    @st.composite
    def sizes(draw: Any) -> dict[str, Any]:
        heads = draw(st.integers(1, 3))
        return {"num_heads": heads, "embed_dim": heads * draw(st.integers(c.MIN_HEAD_DIM, 3)),
                "ff_dim": draw(st.integers(1, 5)),
                "num_layers": draw(st.integers(1, 2)), "pool": draw(st.sampled_from(["mean", "first"])),
                "max_len": draw(st.integers(7, 12)), "num_classes": draw(st.integers(1, 3))}

    return st.tuples(_strategies.configs(), sizes()).map(lambda pair: {**pair[0], **pair[1]})


@register_twin("transformer", configs=_configs)
def transformer(**overrides: Any) -> Twin:
    """Small encoder classifier; inputs of at most `max_len` tokens."""
    cfg = TransformerConfig(**overrides)
    return Twin(
        name="transformer", config=cfg, build_torch=build_torch,
        build_keras=build_keras, torch_to_keras=torch_to_keras, keras_to_torch=keras_to_torch,
        task="classify", length_field="max_len", max_seq_len=cfg.max_len,
        doc="Embedding + positions -> MHA encoder (post-LN) -> mean/first pool -> Dense",
    )
