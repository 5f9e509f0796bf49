"""`gru`: Embedding -> GRU (stacked / bidirectional optional) -> final hidden state -> Dense.

Keras GRU with `reset_after=True` applies the reset gate after the recurrent matmul and keeps
separate input and recurrent biases, which is exactly torch.nn.GRU; only the gate order differs
(torch r,z,n vs Keras z,r,n), handled in `transfer.gru_t2k`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from twinbench.models.registry import Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _rnn


@dataclass(frozen=True)
class GruConfig:
    vocab_size: int = c.DEFAULT_VOCAB
    embed_dim: int = 16
    hidden: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    embed_dropout: float = 0.0
    head_dropout: float = 0.0
    head: str = "logits"
    num_classes: int = 2
    embedding_matrix: str | None = None
    freeze_embedding: bool = False

    def __post_init__(self) -> None:
        _rnn.check_rnn(self)


@register_twin("gru")
def gru(**overrides: Any) -> Twin:
    """GRU classifier; both biases exist in both frameworks, so transfer is exact both ways."""
    return Twin(
        name="gru", config=GruConfig(**overrides),
        build_torch=partial(_rnn.build_torch, kind="gru"),
        build_keras=partial(_rnn.build_keras, kind="gru", name="gru"),
        torch_to_keras=partial(_rnn.torch_to_keras, kind="gru"),
        keras_to_torch=partial(_rnn.keras_to_torch, kind="gru"),
        task="classify",
        doc="Embedding -> GRU (reset_after) -> final hidden state -> Dense",
    )
