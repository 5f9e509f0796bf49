from twinbench.models.registry import register_twin  # noqa: F401  (built-in twins register on import)
