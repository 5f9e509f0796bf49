"""The `--json` summaries: one JSON object per command on stdout, for CI steps and scripts.

Every summary has `command`, `exit_code` and the paths it wrote; counts come from the run
directory's own tables, so the summary says what the report says.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from twinbench.core.layout import RunDir


def _counts(values: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _table(run_dir: Path, name: str) -> Any:
    import pandas as pd

    path = RunDir(run_dir).table(name)
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def run_summary(command: str, run_dir: Path, parity: str, exit_code: int, *, report_md: Path | None = None,
                report_html: Path | None = None) -> dict[str, Any]:
    """`run` and `bench`: the run's verdict, paths, and how many cells ended in each status."""
    results, checks = _table(run_dir, "results"), _table(run_dir, "parity")
    return {
        "command": command, "exit_code": exit_code, "parity": parity,
        "run_dir": str(run_dir), "run_id": Path(run_dir).name,
        "report_md": str(report_md) if report_md else None, "report_html": str(report_html) if report_html else None,
        "cells": len(results), "cell_status": _counts(results["status"]) if len(results) else {},
        "parity_checks": len(checks), "parity_verdicts": _counts(checks["verdict"]) if len(checks) else {},
    }


def parity_summary(run_dir: Path, df: Any, verdict: str, exit_code: int) -> dict[str, Any]:
    """`parity`: the verdict and the verdict of every check."""
    has = df is not None and len(df)
    return {"command": "parity", "exit_code": exit_code, "parity": verdict, "run_dir": str(run_dir),
            "parity_checks": len(df) if has else 0, "parity_verdicts": _counts(df["verdict"]) if has else {}}


def compare_summary(df: Any, exit_code: int, evidence: str) -> dict[str, Any]:
    """`compare`: verdict counts and one entry per compared cell (an INCONCLUSIVE speed cell's
    `more_per_side`: how many more processes a side would likely decide it)."""
    if len(df) and "more_per_side" in df:
        df = df.assign(more_per_side=df["more_per_side"].astype("float64").round().astype("Int64"))
    cells = json.loads(df.to_json(orient="records")) if len(df) else []
    return {"command": "compare", "exit_code": exit_code, "base": df.attrs.get("base"),
            "candidate": df.attrs.get("candidate"), "evidence": evidence,
            "regression": bool(len(df)) and bool((df["verdict"] == "REGRESSION").any()),
            "verdicts": _counts(df["verdict"]) if len(df) else {}, "cells": cells}


def emit(summary: dict[str, Any]) -> None:
    """The summary as one line of strict JSON on stdout (NaN and infinities written as null)."""
    print(json.dumps(_clean(summary), allow_nan=False))


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj if isinstance(obj, (str, int, bool, type(None))) else str(obj)
