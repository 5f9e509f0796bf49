"""Reading and writing the tables of a run directory, typed by their schema (core/schema.py).

`write_table` writes CSV and Parquet atomically (temporary file + rename), every schema column
present and cast to its declared type, so an all-null column keeps its type in the Parquet file
(strings and numbers stay nullable; a flag a row does not carry is false).
`read_table` gives the same types back, and a value that is not of its column's type is one
RunDirError line naming the file and column (exit 2), never a crash in a report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from twinbench.core.atomic import write_with
from twinbench.core.errors import RunDirError, summary
from twinbench.core.layout import RunDir
from twinbench.core.schema import TABLE_COLUMNS, column_type

#: pyarrow type per declared column type.
_ARROW = {"string": "string", "int": "int64", "float": "float64", "bool": "bool"}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is getattr(__import__("pandas"), "NA", None)


def _as_bool(v: Any) -> Any:
    if _missing(v):
        return None
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0", ""):
            return False
        raise ValueError(f"{v!r} is not true or false")
    if isinstance(v, (bool, int, float)) and not isinstance(v, complex):
        return bool(v)
    raise ValueError(f"{v!r} is not true or false")


def cast_column(series: Any, kind: str) -> Any:
    """`series` as the declared `kind` (nullable Int64, float64, boolean, string); ValueError naming
    the first value that is not of that type."""
    import pandas as pd

    if kind == "float" and pd.api.types.is_float_dtype(series.dtype):
        return series.astype("float64")
    if kind == "int" and pd.api.types.is_integer_dtype(series.dtype):
        return series.astype("Int64")
    if kind == "bool" and pd.api.types.is_bool_dtype(series.dtype) and not series.isna().any():
        return series.astype(bool)
    if kind == "string" and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series.astype("object").where(series.notna(), None)
    if kind == "string":
        return series.map(lambda v: None if _missing(v) else (v if isinstance(v, str) else str(_jsonable(v)))) \
            .astype("object")
    if kind == "bool":  # a flag a row does not carry (a skipped cell's io_in_timing) reads as false
        return series.map(lambda v: bool(_as_bool(v))).astype(bool)
    if series.dtype == object:
        mapped = series.map(lambda v: None if _missing(v) or (isinstance(v, str) and not v.strip()) else v)
        num = pd.to_numeric(mapped, errors="coerce")
        bad = num.isna() & mapped.notna()
        if bool(bad.any()):
            raise ValueError(f"{mapped[bad].iloc[0]!r} is not a number")
    else:
        num = pd.to_numeric(series, errors="coerce")
    if kind == "int":
        whole = num.dropna()
        if len(whole) and not bool(((whole % 1) == 0).all()) or bool(whole.abs().gt(2**62).any()):
            raise ValueError(f"{whole[(whole % 1) != 0].iloc[0] if len(whole) else ''!r} is not an integer")
        return num.astype("Int64")
    return num.astype("float64")


def typed(df: Any, name: str, where: str = "") -> Any:
    """Every schema column present (empty when missing), in schema order then the extras, each
    known column cast to its type; dicts and lists in other columns become JSON text."""
    import pandas as pd

    columns = TABLE_COLUMNS.get(name, [])
    df = pd.DataFrame() if df is None else df.copy()
    for c in columns:
        if c not in df.columns:
            df[c] = None
    extra = [c for c in df.columns if c not in columns]
    df = df[list(columns) + extra].reset_index(drop=True)
    for c in df.columns:
        if c in columns or c in ("machine_fingerprint", "overlap"):
            try:
                df[c] = cast_column(df[c], column_type(name, c) if c != "overlap" else "bool")
            except (ValueError, TypeError) as exc:
                raise RunDirError(f"{where or name}: column {c!r}: {summary(exc, 160)}") from None
        elif df[c].dtype == object:
            col = df[c].map(_jsonable)
            kinds = {type(v) for v in col if not _missing(v)}
            if len(kinds) > 1 and not kinds <= {int, float, bool}:
                col = col.map(lambda v: None if _missing(v) else str(v))
            df[c] = col
    return df


def _arrow_schema(df: Any, name: str) -> Any:
    import pyarrow as pa

    columns = TABLE_COLUMNS.get(name, [])
    fields = []
    for c in df.columns:
        if c in columns:
            fields.append(pa.field(c, _ARROW[column_type(name, c)]))
        else:
            fields.append(pa.field(c, pa.Schema.from_pandas(df[[c]], preserve_index=False).field(c).type))
    return pa.schema(fields)


def write_table(df: Any, run_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write name.csv and name.parquet atomically; returns both paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = typed(df, name)
    layout = RunDir(Path(run_dir))
    table = pa.Table.from_pandas(df, schema=_arrow_schema(df, name), preserve_index=False)
    csv = write_with(layout.table(name, "csv"), lambda tmp: df.to_csv(tmp, index=False))
    parquet = write_with(layout.table(name, "parquet"), lambda tmp: pq.write_table(table, tmp))
    return csv, parquet


def read_table(run_dir: str | Path, name: str, *, required: bool = False) -> Any:
    """name.parquet (preferred) or name.csv, typed as written; RunDirError (one line) when the file
    cannot be read or a column holds a value of the wrong type."""
    import pandas as pd

    layout = RunDir(Path(run_dir))
    pq, csv = layout.table(name, "parquet"), layout.table(name, "csv")
    path = pq if pq.is_file() else csv
    try:
        if pq.is_file():
            df = pd.read_parquet(pq)
        elif csv.is_file():
            df = pd.read_csv(csv, keep_default_na=True) if csv.stat().st_size else pd.DataFrame()
        elif required:
            raise RunDirError(f"{layout.root}: {name}.parquet / {name}.csv missing")
        else:
            df = pd.DataFrame()
    except RunDirError:
        raise
    except Exception as exc:  # pyarrow and the csv parser raise many kinds
        raise RunDirError(f"{path}: unreadable table ({summary(exc, 160)})") from None
    df = typed(df, name, str(path))
    if name in MEASURED:
        check_measured(df, name, str(path))
    return df


#: Tables whose numbers are measurements (times, rates, counts, spreads): never infinite nor
#: negative. Parity errors may be infinite (a runtime that overflowed), so parity is not here.
MEASURED = ("results", "repeats", "rounds", "load")


def check_measured(df: Any, name: str, where: str) -> None:
    """Every float schema column of a measured table finite (or missing) and >= 0: a value read
    from a file that is neither (an edited table, a NaN turned -9.2e12) is one RunDirError line,
    never a figure in a report or a verdict."""
    import numpy as np

    for c in TABLE_COLUMNS.get(name, []):
        if c not in df.columns or column_type(name, c) != "float":
            continue
        values = df[c].to_numpy(dtype="float64", na_value=np.nan)
        bad = ~np.isnan(values) & (~np.isfinite(values) | (values < 0))
        if bool(bad.any()):
            raise RunDirError(f"{where}: column {c!r}: {values[bad][0]!r} is not a finite number >= 0")
