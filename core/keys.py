"""`CellKey`: the one identity of a measured cell, shared by results, compare, history, hardware and
the reports.

A cell is an artifact on a runtime at one shape, measured on one kind of machine. The machine is
part of the key: a run spread over two kinds of machine (Ray `machines`) holds two cells for every
point of the matrix, and nothing may pool them. Rows meet their specs and each other by this key,
never by their position in a list or by parsing a cell id.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping

#: The key columns of a results (and repeats) row, in table order, and the machine tag after them.
KEY_FIELDS = ("twin", "artifact", "exporter", "source", "precision", "runtime", "device", "batch", "seq_len",
              "threads", "machine")
_INTS = ("batch", "seq_len", "threads")


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def _int(v: Any) -> int:
    """Shape fields as ints (0 where a row has none: a skipped or failed-export row)."""
    if v is None or isinstance(v, bool):
        return 0
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0
    return int(f) if math.isfinite(f) else 0


@dataclass(frozen=True, order=True)
class CellKey:
    twin: str
    artifact: str
    exporter: str
    source: str
    precision: str
    runtime: str
    device: str
    batch: int
    seq_len: int
    threads: int
    machine: str = ""  # the kind of machine (an executor resource tag); "" for this machine

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "CellKey":
        """The key of a table row or any mapping with the key columns (missing ones are empty)."""
        return cls(**{f: (_int(row.get(f)) if f in _INTS else _text(row.get(f))) for f in KEY_FIELDS})

    def as_row(self) -> dict[str, Any]:
        return asdict(self)

    def without_machine(self) -> "CellKey":
        return CellKey(**{**asdict(self), "machine": ""})

    def label(self) -> str:
        """A short human name: `lstm/torch-dynamo on ort-cpu b1 s16 t1 [hw:a]`."""
        where = f" [{self.machine}]" if self.machine else ""
        return (f"{self.twin}/{self.artifact} on {self.runtime} ({self.device}) b{self.batch} s{self.seq_len} "
                f"t{self.threads}{where}")


def keys_of(df: Any) -> list[CellKey]:
    """The CellKey of every row of a DataFrame (columns it lacks are empty)."""
    if df is None or not len(df):
        return []
    cols = {f: (df[f].tolist() if f in df.columns else [None] * len(df)) for f in KEY_FIELDS}
    return [CellKey.of({f: cols[f][i] for f in KEY_FIELDS}) for i in range(len(df))]


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(CellKey))


def index_by_key(rows: Iterable[Mapping[str, Any]]) -> dict[CellKey, list[Mapping[str, Any]]]:
    """Rows grouped by their key (a dict lookup per row: linear in the rows)."""
    out: dict[CellKey, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(CellKey.of(row), []).append(row)
    return out
