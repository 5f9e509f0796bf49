"""Reading and writing the tables of a run directory.

Every report, comparison and history entry starts from `load_run`, so a report is a pure function
of the run directory: the manifest through the one reader (core/manifest.py `read_manifest`), the
tables typed by their schema (core/tables.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.core.errors import RunDirError
from twinbench.core.manifest import Manifest, read_manifest
from twinbench.core.schema import TABLE_COLUMNS
from twinbench.core.tables import read_table

#: Known tables and their schema columns; extra columns are kept after these.
TABLES = TABLE_COLUMNS
#: Tables a run directory must have (parity and training may be absent, e.g. pytest-benchmark imports).
REQUIRED = ("results",)


@dataclass(frozen=True)
class RunData:
    """One complete run directory, read once; `samples(row)` loads per-iteration ns lazily."""

    path: Path
    manifest: Manifest
    results: Any  # pandas.DataFrame
    parity: Any  # pandas.DataFrame
    training: Any  # pandas.DataFrame
    params: Any = None  # pandas.DataFrame (absent in runs without twins)
    repeats: Any = None  # pandas.DataFrame: one row per cell x worker process
    rounds: Any = None  # pandas.DataFrame: one row per timed round, with the machine-state probe
    load: Any = None  # pandas.DataFrame: one row per LoadGen run of a Server/Offline cell (bench/load/)
    twin_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def run_id(self) -> str:
        return self.manifest.run_id or self.path.name

    def samples(self, row: Any) -> np.ndarray:
        """int64 ns per timed iteration of a results row (empty when the cell has none)."""
        rel = _get(row, "samples_file")
        if not isinstance(rel, str) or not rel:
            return np.zeros(0, dtype=np.int64)
        if rel not in self._cache:
            path = self.path / rel
            if not path.resolve().is_relative_to(self.path.resolve()):
                raise RunDirError(f"{self.path}: samples_file {rel!r} lies outside the run directory")
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise RunDirError(f"{path}: unreadable samples file ({_first_line(exc)})") from None
            # int64 ns >= 0: a float array would turn a NaN into -9.2e18 ns, a figure from nothing
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu" or (arr.size and int(arr.min()) < 0):
                raise RunDirError(f"{path}: samples must be non-negative integer nanoseconds, got "
                                  f"{getattr(arr, 'dtype', type(arr).__name__)}")
            self._cache[rel] = np.asarray(arr, dtype=np.int64).reshape(-1)
        return self._cache[rel]


def _get(row: Any, key: str) -> Any:
    if isinstance(row, dict):
        return row.get(key)
    return getattr(row, key, None) if not hasattr(row, "get") else row.get(key)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_run(run_dir: str | Path) -> RunData:
    """Read a complete run directory; RunDirError (one line) when anything is wrong with it."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    tables = {name: read_table(run_dir, name, required=name in REQUIRED) for name in TABLES}
    return RunData(path=run_dir, manifest=manifest, twin_configs=_twin_configs(run_dir), **tables)


def _twin_configs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """twin -> the config its native torch (else keras) weights were built with, from the sidecars."""
    out: dict[str, dict[str, Any]] = {}
    for kind in ("keras.weights.h5", "torch.pt"):  # torch last: it wins
        for side in sorted(run_dir.glob(f"artifacts/*/{kind}.json")):
            try:
                d = json.loads(side.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue  # a report still renders; the twin just shows no config
            if isinstance(d, dict) and isinstance(d.get("twin_config"), dict) and d.get("twin"):
                out[str(d["twin"])] = d["twin_config"]
    return out
