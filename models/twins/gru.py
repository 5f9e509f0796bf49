"""`gru`: Embedding -> GRU (stacked / bidirectional optional) -> final hidden state -> Dense.

Keras GRU with `reset_after=True` applies the reset gate after the recurrent matmul and keeps
separate input and recurrent biases, which is exactly torch.nn.GRU; only the gate order differs
(torch r,z,n vs Keras z,r,n), handled in `transfer.gru_t2k`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twinbench.models.registry import Twin, register_twin
from twinbench.models.twins import _rnn, _strategies


@dataclass(frozen=True)
class GruConfig(_rnn.RnnConfig):
    bidirectional: bool = False


@register_twin("gru", configs=_strategies.recurrent)
def gru(**overrides: Any) -> Twin:
    """GRU classifier; both biases exist in both frameworks, so transfer is exact both ways."""
    return _rnn.rnn_twin("gru", "gru", GruConfig(**overrides),
                         "Embedding -> GRU (reset_after) -> final hidden state -> Dense")
