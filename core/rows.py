"""The one constructor of table rows: every results or parity row starts here.

Rows are plain dicts (they travel as JSON between processes and machines), but only these functions
make them, so every row has every schema column, figures a cell could not measure are NaN, and an
unknown column is a bug caught where it is written instead of a silent extra column in a table.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from twinbench.core.schema import KEY, LOAD_COLUMNS, PARITY_COLUMNS, RESULTS_COLUMNS

#: Results figures that are NaN (not None) until measured, so the tables keep a float dtype.
_NAN_COLUMNS = ("cold_load_ms", "cold_first_run_ms", "peak_rss_mb", "gpu_peak_mb", "flops", "gflops_per_s")
_RESULTS = frozenset(RESULTS_COLUMNS)
_PARITY = frozenset(PARITY_COLUMNS)
_LOAD = frozenset(LOAD_COLUMNS)
#: Load figures that are NaN until measured.
_LOAD_NAN = tuple(c for c in LOAD_COLUMNS if c.endswith(("_ms", "_qps", "_s")) or c == "percentile")


def _check(values: Mapping[str, Any], allowed: frozenset[str], table: str) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise KeyError(f"{table} row: unknown column(s) {', '.join(unknown)}")


def result_row(key: Mapping[str, Any], *, status: str = "ok", error: str = "", **values: Any) -> dict[str, Any]:
    """A results row: the KEY columns from `key` (e.g. `CellSpec.key_row()`), every other column
    empty or NaN, then `values`. `status` is ok | failed | skipped | invalid."""
    row: dict[str, Any] = dict.fromkeys(RESULTS_COLUMNS)
    row.update({k: key.get(k) for k in KEY if k in key})
    row["run_id"] = row["run_id"] or ""
    for col in _NAN_COLUMNS:
        row[col] = math.nan
    _check(values, _RESULTS, "results")
    row.update(values, status=status, error=error)
    return row


def failed_row(key: Mapping[str, Any], error: str) -> dict[str, Any]:
    return result_row(key, status="failed", error=error)


def skipped_row(key: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return result_row(key, status="skipped", error=reason)


def artifact_key(art: Any, runtime: str, device: str, batch: Any = None, seq_len: Any = None,
                 threads: Any = None) -> dict[str, Any]:
    """The KEY columns of a cell of artifact `art` (an `Artifact`)."""
    return {"run_id": "", "twin": art.twin, "artifact": art.name, "exporter": art.exporter, "source": art.source,
            "precision": art.precision, "runtime": runtime, "device": device, "batch": batch,
            "seq_len": seq_len, "threads": threads}


def export_failure_row(run_id: str, twin: str, name: str, error: str) -> dict[str, Any]:
    """An exporter or variant that failed: a results row under the pseudo-runtime "(export)"."""
    key = {"run_id": run_id, "twin": twin, "artifact": name, "exporter": name, "source": "", "precision": "",
           "runtime": "(export)", "device": ""}
    return failed_row(key, error)


def from_json(row: Mapping[str, Any], key: Mapping[str, Any]) -> dict[str, Any]:
    """A row read back from a worker's file, completed to every column (unknown keys dropped:
    a worker of another version may write more)."""
    out = result_row(key)
    out.update({k: v for k, v in row.items() if k in _RESULTS})
    return out


def parity_row(cell: Mapping[str, Any], run_id: str, **values: Any) -> dict[str, Any]:
    """A parity row for the cell row `cell` (its identity columns), then `values`."""
    row: dict[str, Any] = dict.fromkeys(PARITY_COLUMNS)
    row.update({k: cell.get(k) or "" for k in ("twin", "artifact", "exporter", "precision", "runtime", "device",
                                               "machine")})
    row.update(run_id=cell.get("run_id") or run_id, first_divergent_layer="", error="", profile="",
               profile_reason="")
    _check(values, _PARITY, "parity")
    row.update(values)
    return row


def load_row(key: Mapping[str, Any], *, status: str = "ok", error: str = "", **values: Any) -> dict[str, Any]:
    """A load-table row (one LoadGen run of a Server/Offline cell): KEY columns from `key`, figures
    NaN until given, then `values`. `status` is ok | failed."""
    row: dict[str, Any] = dict.fromkeys(LOAD_COLUMNS)
    row.update({k: key.get(k) for k in KEY if k in key})
    row["run_id"] = row["run_id"] or ""
    for col in _LOAD_NAN:
        row[col] = math.nan
    row.update(headline=False, valid=False, loadgen_result="", loadgen_reason="", early_stopping="", log_dir="",
               search_stop="", runtime_settings="")
    _check(values, _LOAD, "load")
    row.update(values, status=status, error=error)
    return row
