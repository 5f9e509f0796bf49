"""`bilstm`: Embedding -> N stacked bidirectional LSTMs -> final forward + backward hidden states
concatenated -> Dense head ("logits" with num_classes, or "sigmoid" with one output).

Defaults are small; the textbook IMDb model is
`get_twin("bilstm", vocab_size=20000, embed_dim=128, hidden=64, num_layers=2, dropout=0.5,
head="sigmoid", num_classes=1)` (docs/examples/textbook.toml runs it through the whole pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twinbench.models.registry import Twin, register_twin
from twinbench.models.twins import _rnn, _strategies


@dataclass(frozen=True)
class BiLstmConfig(_rnn.RnnConfig):
    bidirectional: bool = True


@register_twin("bilstm", configs=_strategies.recurrent)
def bilstm(**overrides: Any) -> Twin:
    """Stacked BiLSTM classifier reading torch's final hidden states (h_n) of the last layer."""
    return _rnn.rnn_twin("bilstm", "lstm", BiLstmConfig(**overrides),
                         "Embedding -> stacked BiLSTM -> [h_fwd_last, h_bwd_first] -> Dense (logits or sigmoid)")
