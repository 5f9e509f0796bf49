"""Helpers shared by the built-in twins: config checks, the token input, the (optionally
pretrained) embedding built identically on both sides, the weight transfer of a layer stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from twinbench.core.errors import ConfigError
from twinbench.models import transfer as tr
from twinbench.models.registry import HEADS, INPUT_NAME, OUTPUT_NAME
from twinbench.models.vocab import PAD

DEFAULT_VOCAB = 1000


def check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")


def check_fraction(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: must be a number in [0, 1), got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: must be true or false, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")


#: Keras 3.15 (TensorFlow backend) `EinsumDense` with a size-1 last output axis adds its bias along the
#: sequence axis when seq == num_heads, so a MultiHeadAttention of several one-dimensional heads computes
#: another function at exactly that length (found by the property tests; 0.03-0.5 output error).
#: With more than one head, each head gets at least this many dimensions (KerasHub's BERT too).
MIN_HEAD_DIM = 2


def check_heads(width_name: str, width: int, num_heads: int) -> None:
    """`num_heads` divides the attention width, and several heads get MIN_HEAD_DIM dimensions each."""
    if width % num_heads:
        raise ValueError(f"num_heads: must divide {width_name}={width}, got {num_heads}")
    if num_heads > 1 and width // num_heads < MIN_HEAD_DIM:
        raise ValueError(f"num_heads: several heads need >= {MIN_HEAD_DIM} dimensions each (Keras adds one-dimensional "
                         f"heads' biases on the wrong axis), got {width_name}={width}, num_heads={num_heads}")


def check_head(cfg: Any) -> None:
    """`head` and `num_classes` of a classifier with a choice of head (the sigmoid one has one output)."""
    check_choice("head", cfg.head, HEADS)
    check_positive("num_classes", cfg.num_classes)
    if cfg.head == "sigmoid" and cfg.num_classes != 1:
        raise ValueError(f"num_classes: the sigmoid head has one output, got num_classes={cfg.num_classes}")


@dataclass(frozen=True, kw_only=True)
class EmbeddingConfig:
    """The fields every built-in twin's config starts with: the token embedding, optionally
    pretrained (`embedding_matrix`, a .npy path the pipeline fills from `[embeddings]`). Twins
    subclass it and call `super().__post_init__()` before their own checks."""

    vocab_size: int = DEFAULT_VOCAB
    embed_dim: int = 16
    embedding_matrix: str | None = None
    freeze_embedding: bool = False

    def __post_init__(self) -> None:
        check_embedding(self)


def check_embedding(cfg: Any) -> None:
    """Fields every embedding twin has: vocab_size, embed_dim, embedding_matrix, freeze_embedding."""
    check_positive("vocab_size", cfg.vocab_size)
    check_positive("embed_dim", cfg.embed_dim)
    if cfg.embedding_matrix is not None and not isinstance(cfg.embedding_matrix, str):
        raise ValueError(f"embedding_matrix: must be a path to a .npy file or None, got {cfg.embedding_matrix!r}")
    check_bool("freeze_embedding", cfg.freeze_embedding)
    if cfg.freeze_embedding and cfg.embedding_matrix is None:
        raise ValueError("freeze_embedding: needs embedding_matrix (freezing a random embedding is a mistake)")


def load_matrix(cfg: Any) -> np.ndarray | None:
    """The pretrained matrix named by `cfg.embedding_matrix`, checked against the config's shape."""
    if cfg.embedding_matrix is None:
        return None
    try:
        matrix = np.load(cfg.embedding_matrix, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"embedding_matrix {cfg.embedding_matrix!r}: cannot be read ({exc})") from None
    if matrix.shape != (cfg.vocab_size, cfg.embed_dim):
        raise ConfigError(
            f"embedding_matrix {cfg.embedding_matrix!r}: shape {matrix.shape} does not match "
            f"(vocab_size, embed_dim) = ({cfg.vocab_size}, {cfg.embed_dim})"
        )
    return matrix.astype(np.float32)


def torch_embedding(cfg: Any) -> "Any":
    """nn.Embedding without padding_idx (Keras cannot freeze one row, so both sides train the pad
    row), but with the pad row starting at zero in both frameworks, as a pretrained matrix's does.

    torch's default N(0, 1) pad row is a large constant input at every padded position: the `mlp` at
    length 200 on short texts (190 padded positions) never left chance accuracy with it; zeroed it
    reaches 0.97 (docs/twins.md)."""
    import torch

    emb = torch.nn.Embedding(cfg.vocab_size, cfg.embed_dim)
    matrix = load_matrix(cfg)
    with torch.no_grad():
        if matrix is not None:
            emb.weight.copy_(torch.from_numpy(matrix))
        else:
            emb.weight[PAD].zero_()
    emb.weight.requires_grad_(not cfg.freeze_embedding)
    return emb


def keras_tokens(fixed_length: int | None = None) -> Any:
    import keras

    return keras.Input(shape=(fixed_length,), dtype="int64", name=INPUT_NAME)


def keras_embedding(cfg: Any) -> Any:
    import keras

    return keras.layers.Embedding(
        cfg.vocab_size, cfg.embed_dim, name="embedding", trainable=not cfg.freeze_embedding
    )


def finish_keras(model: Any, cfg: Any) -> Any:
    """Load the pretrained matrix (if any) into the built model's embedding layer, else zero its
    pad row (see `torch_embedding`)."""
    matrix = load_matrix(cfg)
    layer = model.get_layer("embedding")
    if matrix is None:
        matrix = layer.get_weights()[0]
        matrix[PAD] = 0.0
    layer.set_weights([matrix])
    return model



Transfer = Callable[[Any, Any], None]


def stack_transfers(body: str, prefix: str, body_t2k: Transfer, body_k2t: Transfer) -> tuple[Transfer, Transfer]:
    """The (torch_to_keras, keras_to_torch) pair of an Embedding -> `tm.<body>` layers (Keras
    `<prefix>_<i>`, copied with `body_t2k` / `body_k2t`) -> `tm.logits` classifier, so a twin of that
    shape names its layers once for both directions."""

    def layers(tm: Any) -> list[tuple[Any, str, Transfer, Transfer]]:
        body_layers = [(layer, f"{prefix}_{i}", body_t2k, body_k2t) for i, layer in enumerate(getattr(tm, body))]
        return [(tm.embedding, "embedding", tr.embedding_t2k, tr.embedding_k2t), *body_layers,
                (tm.logits, OUTPUT_NAME, tr.dense_t2k, tr.dense_k2t)]

    def torch_to_keras(tm: Any, km: Any) -> None:
        for layer, name, t2k, _ in layers(tm):
            t2k(layer, km.get_layer(name))

    def keras_to_torch(km: Any, tm: Any) -> None:
        for layer, name, _, k2t in layers(tm):
            k2t(km.get_layer(name), layer)

    return torch_to_keras, keras_to_torch
