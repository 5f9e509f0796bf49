"""Reference forward passes, registered per twin name like the twins themselves.

A reference is a plain function `(config, weights, tokens, *, trace=False) -> Reference` that
computes the twin's function in float64 NumPy from its torch state dict, without any framework.
A twin without one is simply not checked this way (`get_reference` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import numpy as np

from twinbench.core.registry import Registry

if TYPE_CHECKING:
    from twinbench.models.registry import Twin


@dataclass(frozen=True)
class Reference:
    """`outputs`: float64, the torch module's output shape ([B, classes] or [B, S, tags]).
    `steps` (recurrent twins, when traced): per layer and direction, named after the torch module
    attribute and layer (`lstm_0`, `rnn_1_reverse`), the hidden state at every position [B, S, H].
    A reverse direction's state at position t has read tokens t..S-1 (torch's `output` layout)."""

    outputs: np.ndarray
    steps: Mapping[str, np.ndarray] = field(default_factory=dict)


class ReferenceFn(Protocol):
    def __call__(self, config: Any, weights: Mapping[str, np.ndarray], tokens: np.ndarray, *,
                 trace: bool = False) -> Reference: ...


#: Twin name -> its reference; the built-ins (models/reference/builtin.py) are discovered on first use.
REFERENCES: Registry[ReferenceFn] = Registry("reference", package="twinbench.models.reference")


def register_reference(name: str) -> Callable[[ReferenceFn], ReferenceFn]:
    """Decorator: `fn` computes twin `name`'s outputs from its weights (users use it too)."""
    return REFERENCES.register(name)


def get_reference(name: str) -> ReferenceFn | None:
    """The reference registered for twin `name`, or None (that twin is not checked this way)."""
    return REFERENCES.find(name)


def list_references() -> list[str]:
    return REFERENCES.names()


def as_numpy_weights(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """float64 arrays from a state dict of arrays or tensors; tensors are converted through their
    own methods (`.detach().cpu().double().numpy()`) so this module never imports torch."""
    out = {}
    for key, value in state_dict.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().double().numpy()
        out[key] = np.asarray(value, dtype=np.float64)
    return out


def reference_outputs(twin: "Twin", state_dict: Mapping[str, Any], tokens: np.ndarray, trace: bool = False
                      ) -> Reference | None:
    """Run `twin`'s reference on `tokens` with the weights of `state_dict`; None without one."""
    fn = get_reference(twin.name)
    if fn is None:
        return None
    return fn(twin.config, as_numpy_weights(state_dict), np.asarray(tokens), trace=trace)
