"""Built-in twins: importing this package registers every one of them."""

from twinbench.models.registry import register_twin  # noqa: F401  (built-in twins register on import)
from twinbench.models.twins import bilstm, cnn, gru, lstm, mlp, tagger, transformer  # noqa: F401
