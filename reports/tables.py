"""Reading and writing the tables of a run directory.

Every report, comparison and history entry starts from `load_run`, so a report is a pure function
of the run directory. `write_table` is what the pipeline uses: it writes to a temporary name and
renames, so nothing half-written ever looks complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.core.schema import LOAD_COLUMNS
from twinbench.core.schema import (PARAMS_COLUMNS, PARITY_COLUMNS, REPEATS_COLUMNS, RESULTS_COLUMNS,
                                    ROUNDS_COLUMNS, SCHEMA_VERSION,
                                    TRAINING_COLUMNS)
from twinbench.core.atomic import write_with
from twinbench.core.errors import RunDirError
from twinbench.core.layout import RunDir

#: Known tables and their schema columns; extra columns are kept after these.
TABLES: dict[str, list[str]] = {
    "results": RESULTS_COLUMNS,
    "parity": PARITY_COLUMNS,
    "training": TRAINING_COLUMNS,
    "params": PARAMS_COLUMNS,
    "repeats": REPEATS_COLUMNS,
    "rounds": ROUNDS_COLUMNS,
    "load": LOAD_COLUMNS,
}
#: Tables a run directory must have (parity and training may be absent, e.g. pytest-benchmark imports).
REQUIRED = ("results",)


@dataclass(frozen=True)
class RunData:
    """One complete run directory, read once; `samples(row)` loads per-iteration ns lazily."""

    path: Path
    manifest: dict[str, Any]
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
        return str(self.manifest.get("run_id") or self.path.name)

    def samples(self, row: Any) -> np.ndarray:
        """int64 ns per timed iteration of a results row (empty when the cell has none)."""
        rel = _get(row, "samples_file")
        if not isinstance(rel, str) or not rel:
            return np.zeros(0, dtype=np.int64)
        if rel not in self._cache:
            path = self.path / rel
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise RunDirError(f"{path}: unreadable samples file ({_first_line(exc)})") from None
            self._cache[rel] = np.asarray(arr, dtype=np.int64).reshape(-1)
        return self._cache[rel]


def _get(row: Any, key: str) -> Any:
    if isinstance(row, dict):
        return row.get(key)
    return getattr(row, key, None) if not hasattr(row, "get") else row.get(key)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_manifest(run_dir: str | Path, *, require_complete: bool = True) -> dict[str, Any]:
    """The manifest of a run directory, checked for status and schema version."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found")
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise RunDirError(f"{path}: missing (not a run directory)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: corrupt JSON ({_first_line(exc)})") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: not a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunDirError(f"{path}: schema_version {version!r}, this twinbench reads {SCHEMA_VERSION}")
    from twinbench.core.liveness import effective_status

    status = effective_status(manifest)  # "running" with its driver gone reads as "interrupted"
    if require_complete and status != "complete":
        hint = f"; continue it with `twinbench run --resume {run_dir}`" if status in ("interrupted", "failed") else ""
        raise RunDirError(f"{path}: status is {status!r}, not 'complete'{hint}")
    return manifest


def read_table(run_dir: str | Path, name: str, *, required: bool = False) -> Any:
    """name.parquet (preferred) or name.csv as a DataFrame with at least the schema columns."""
    import pandas as pd

    run_dir = Path(run_dir)
    pq, csv = run_dir / f"{name}.parquet", run_dir / f"{name}.csv"
    try:
        if pq.is_file():
            df = pd.read_parquet(pq)
        elif csv.is_file():
            df = pd.read_csv(csv, keep_default_na=True) if csv.stat().st_size else pd.DataFrame()
        elif required:
            raise RunDirError(f"{run_dir}: {name}.parquet / {name}.csv missing")
        else:
            df = pd.DataFrame()
    except RunDirError:
        raise
    except Exception as exc:  # pyarrow and the csv parser raise many kinds
        path = pq if pq.is_file() else csv
        raise RunDirError(f"{path}: unreadable table ({_first_line(exc)})") from None
    return _int_columns(_with_columns(df, TABLES.get(name, [])))


def _with_columns(df: Any, columns: list[str]) -> Any:
    missing = [c for c in columns if c not in df.columns]
    for c in missing:
        df[c] = None
    extra = [c for c in df.columns if c not in columns]
    return df[list(columns) + extra].reset_index(drop=True)


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


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True, default=str)
    return v


#: Integer columns stored as nullable Int64, so a missing value does not turn 8 into 8.0.
INT_COLUMNS = ("batch", "seq_len", "threads", "iterations", "warmup_iters", "threads_actual", "epoch", "n",
               "worst_index", "repeats", "repeat", "round", "count", "rounds")


def _int_columns(df: Any) -> Any:
    """Integral number columns of INT_COLUMNS as nullable Int64 (CSV has no such type)."""
    import pandas as pd

    for c in INT_COLUMNS:
        if c in df.columns:
            try:
                num = pd.to_numeric(df[c], errors="raise")
                if bool(((num.dropna() % 1) == 0).all()):
                    df[c] = num.astype("Int64")
            except (TypeError, ValueError):
                pass
    return df


def _normalize(df: Any) -> Any:
    """Dicts/lists to JSON text; mixed-type object columns to text, so Parquet accepts them."""
    df = _int_columns(df.copy())
    for c in df.columns:
        if df[c].dtype == object:
            col = df[c].map(_jsonable)
            kinds = {type(v) for v in col if v is not None and not (isinstance(v, float) and v != v)}
            if len(kinds) > 1 and not kinds <= {int, float, bool}:
                col = col.map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
            df[c] = col
    return df


def write_table(df: Any, run_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write name.csv and name.parquet atomically (temporary file + rename); returns both paths.

    Known tables get every schema column (missing ones empty), extra columns are kept after them."""
    import pandas as pd

    run_dir = Path(run_dir)
    df = pd.DataFrame() if df is None else df
    df = _normalize(_with_columns(df.copy(), TABLES.get(name, [])))
    layout = RunDir(run_dir)
    csv = write_with(layout.table(name, "csv"), lambda tmp: df.to_csv(tmp, index=False))
    parquet = write_with(layout.table(name, "parquet"), lambda tmp: df.to_parquet(tmp, index=False))
    return csv, parquet
