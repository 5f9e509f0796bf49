"""`bilstm`: Embedding -> N stacked bidirectional LSTMs -> final forward + backward hidden states
concatenated -> Dense head ("logits" with num_classes, or "sigmoid" with one output).

Defaults are small; the textbook IMDb model is
`get_twin("bilstm", vocab_size=20000, embed_dim=128, hidden=64, num_layers=2, dropout=0.5,
head="sigmoid", num_classes=1)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from twinbench.models.registry import Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _rnn


@dataclass(frozen=True)
class BiLstmConfig:
    vocab_size: int = c.DEFAULT_VOCAB
    embed_dim: int = 16
    hidden: int = 32
    num_layers: int = 1  # >1 exports to ONNX via torch dynamo only at a fixed seq length (see docs/twins.md)
    bidirectional: bool = True
    dropout: float = 0.0  # between stacked layers, training only
    embed_dropout: float = 0.0
    head_dropout: float = 0.0
    head: str = "logits"
    num_classes: int = 2
    embedding_matrix: str | None = None
    freeze_embedding: bool = False

    def __post_init__(self) -> None:
        _rnn.check_rnn(self)


@register_twin("bilstm")
def bilstm(**overrides: Any) -> Twin:
    """Stacked BiLSTM classifier reading torch's final hidden states (h_n) of the last layer."""
    return Twin(
        name="bilstm", config=BiLstmConfig(**overrides),
        build_torch=partial(_rnn.build_torch, kind="lstm"),
        build_keras=partial(_rnn.build_keras, kind="lstm", name="bilstm"),
        torch_to_keras=partial(_rnn.torch_to_keras, kind="lstm"),
        keras_to_torch=partial(_rnn.keras_to_torch, kind="lstm"),
        task="classify",
        doc="Embedding -> stacked BiLSTM -> [h_fwd_last, h_bwd_first] -> Dense (logits or sigmoid)",
    )
