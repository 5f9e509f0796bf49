"""The ground floor: what every stage above shares and nothing here imports from above.

The run directory (`layout.RunDir`, the manifest, table schemas, rows, tables), atomic writes, the
benchmark lock, liveness, machine facts and errors. Every other package (models, exporters, bench,
reports, the front) may import from here; this package imports only the standard library, NumPy,
pandas/pyarrow and itself (docs/ARCHITECTURE.md draws the staircase)."""

__version__ = "0.1.0"
