"""Numerical parity, below the cells code: inputs and goldens (`inputs`), profiles (`profiles`),
one output against its golden (`compare`), the one run verdict (`verdict`), tables over a run
directory (`table`), and where a failing graph first diverges (`localize`, `sensitivity`).

Import the module you need; this package has no front door, so nothing here imports in a circle."""
