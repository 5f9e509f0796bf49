"""A golden that no framework wrote: each built-in twin's forward pass in float64 NumPy, from the
equations, reading the torch state dict (docs/parity.md, "The NumPy reference").

The built-in references (builtin.py) register on first lookup; nothing here imports a framework.
"""


from twinbench.models.reference.divergence import (
    Divergence,
    describe,
    first_divergent_step,
    observed_layers,
    prefix_outputs,
    prefix_start,
    reference_prefix_outputs,
    step_errors,
)
from twinbench.models.reference.registry import (
    Reference,
    ReferenceFn,
    as_numpy_weights,
    get_reference,
    list_references,
    reference_outputs,
    register_reference,
)

__all__ = [
    "Divergence", "Reference", "ReferenceFn", "as_numpy_weights", "describe", "first_divergent_step",
    "get_reference", "list_references", "observed_layers", "prefix_outputs", "prefix_start",
    "reference_outputs", "reference_prefix_outputs", "register_reference", "step_errors",
]
