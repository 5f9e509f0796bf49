"""`RunDir`: the one place that knows every path inside `runs/<id>/`.

Every stage asks it instead of joining strings, so the layout is written down once (docs/ARCHITECTURE.md
shows the same tree) and a worker on another machine can be handed a different root. Pure path
arithmetic: nothing here touches the disk except `ensure`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

#: Files beside a cell's row that are not rows themselves (`<cell_id><suffix>`).
CELL_SIDE_SUFFIXES = (".outputs.json", ".spec.json", ".load.json")


@dataclass(frozen=True)
class CellFiles:
    """The files of one cell: its row, samples, parity outputs (+ per-batch errors), log and spec."""

    row: Path
    samples: Path
    rounds: Path
    outputs: Path
    outputs_errors: Path
    log: Path
    spec: Path

    def all(self) -> tuple[Path, ...]:
        return (self.row, self.samples, self.rounds, self.outputs, self.outputs_errors, self.log, self.spec)


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory. `cells_name` is "cells" for a run and "parity_only" for a
    parity re-check, which writes the same cell files beside the run's own."""

    root: Path
    cells_name: str = "cells"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def with_cells(self, name: str) -> "RunDir":
        return replace(self, cells_name=name)

    # top level -------------------------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def table(self, name: str, ext: str = "parquet") -> Path:
        """results / parity / parity_cross / training / params (+ later tables), .csv or .parquet."""
        return self.root / f"{name}.{ext}"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def baseline(self) -> Path:
        """`baseline.json`: another run's per-runtime figures, for the report's ranking section."""
        return self.root / "baseline.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # data ------------------------------------------------------------------------------------
    def data(self, task: str) -> Path:
        return self.root / "data" / task

    def vocab(self, task: str) -> Path:
        return self.data(task) / "vocab.json"

    def splits(self, task: str) -> Path:
        return self.data(task) / "splits.npz"

    def embedding(self, task: str) -> Path:
        return self.data(task) / "embedding.npy"

    # artifacts -------------------------------------------------------------------------------
    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def twin(self, twin: str) -> Path:
        return self.artifacts / twin

    def parity_inputs(self, twin: str) -> Path:
        return self.twin(twin) / "parity_inputs.npz"

    def golden(self, twin: str, source: str = "torch") -> Path:
        """`golden.npz` (torch weights) or `golden.keras.npz` (the Keras weights in float64 torch)."""
        return self.twin(twin) / ("golden.keras.npz" if source == "keras" else "golden.npz")

    def reference(self, twin: str, source: str = "torch") -> Path:
        """`reference.npz` / `reference.keras.npz`: the NumPy reference's outputs on the weights of
        `golden(twin, source)`, which the parity table checks that golden against (`reference.npz`
        also holds `__info__`: which reference ran, or why none)."""
        return self.twin(twin) / ("reference.keras.npz" if source == "keras" else "reference.npz")

    def rel(self, path: Path) -> str:
        """`path` relative to the root, POSIX style (what specs and sidecars store)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def build_record(self, twin: str) -> Path:
        """`builds/<twin>.json`: a twin's complete build (artifacts, failures, training rows), for resume."""
        return self.root / "builds" / f"{twin}.json"

    def twin_dirs(self) -> list[Path]:
        return sorted(p for p in self.artifacts.glob("*") if p.is_dir()) if self.artifacts.is_dir() else []

    # cells -----------------------------------------------------------------------------------
    @property
    def cells(self) -> Path:
        return self.root / self.cells_name

    def cell(self, cell_id: str) -> CellFiles:
        base = self.cells / cell_id
        return CellFiles(row=Path(f"{base}.json"), samples=Path(f"{base}.npy"), rounds=Path(f"{base}.rounds.npy"),
                         outputs=Path(f"{base}.outputs.npz"),
                         outputs_errors=Path(f"{base}.outputs.json"), log=Path(f"{base}.log"),
                         spec=Path(f"{base}.spec.json"))

    def load_rows(self, cell_id: str) -> Path:
        """A Server/Offline cell's load-table rows (a JSON list, one per LoadGen run): bench/load/."""
        return self.cells / f"{cell_id}.load.json"

    def load_logs(self, cell_id: str) -> Path:
        """A Server/Offline cell's LoadGen logs, one sub-folder per LoadGen run."""
        return self.cells / f"{cell_id}.loadgen"

    def cell_rows(self) -> list[Path]:
        """Every cell row file (side files excluded), sorted."""
        if not self.cells.is_dir():
            return []
        return sorted(p for p in self.cells.glob("*.json") if not p.name.endswith(CELL_SIDE_SUFFIXES))

    def ensure(self) -> "RunDir":
        for sub in (self.root / "data", self.artifacts, self.cells):
            sub.mkdir(parents=True, exist_ok=True)
        return self
