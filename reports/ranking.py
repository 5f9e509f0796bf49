"""How the runtime ranking changes with the model's size: this run next to a baseline run.

At the default size (a 7k-parameter LSTM, a call of tens of microseconds) dispatch overhead
decides which runtime is fastest; at a textbook size (`--preset`) the arithmetic does. The
ranking is taken per batch size over the runtimes both runs measured, at each run's longest
sequence length: each runtime's figure is its fastest artifact's p50 (the headline over processes,
docs/measurement.md). The baseline's figures
are copied into this run directory (`baseline.json`), so the report stays a function of the run
directory alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twinbench.core.atomic import write_json
from twinbench.core.errors import RunDirError
from twinbench.core.layout import RunDir
from twinbench.core.manifest import read_manifest
from twinbench.core.tables import read_table

#: The harness-overhead cell is no runtime of the model.
CALIBRATION = "_calibration"
FORMAT = 1


def best_per_runtime(results: Any) -> list[dict[str, Any]]:
    """Per batch x runtime, the fastest ok cell at the run's longest sequence length (the size the
    run is about): {batch, runtime, artifact, twin, seq_len, p50_ms, status}. A runtime whose cells
    there are all invalid (too noisy, or too few calls: a second-long Keras eager call) keeps its
    fastest invalid figure, marked so, rather than vanishing from the ranking."""
    if results is None or not len(results) or "p50_ms" not in results:
        return []
    df = results[results["status"].astype(str).isin(["ok", "invalid"]) & results["p50_ms"].notna()
                 & (results["twin"].astype(str) != CALIBRATION)]
    if not len(df):
        return []
    df = df[df["seq_len"] == df["seq_len"].max()]
    out = []
    for (batch, runtime), g in df.groupby(["batch", "runtime"], sort=True):
        ok = g[g["status"].astype(str) == "ok"]
        r = (ok if len(ok) else g).sort_values("p50_ms", kind="stable").iloc[0]
        out.append({"batch": int(batch), "runtime": str(runtime), "artifact": str(r["artifact"]),
                    "twin": str(r["twin"]), "seq_len": int(r["seq_len"]), "p50_ms": float(r["p50_ms"]),
                    "status": str(r["status"])})
    return out


def size_label(run_dir: Path) -> str:
    """The models a run measured and their parameter counts (its params table's totals)."""
    try:
        params = read_table(run_dir, "params", required=False)
    except RunDirError:
        params = None
    parts = []
    if params is not None and len(params) and "layer" in params:
        for r in params[params["layer"].astype(str) == "total"].itertuples():
            parts.append(f"{r.twin} ({int(r.keras):,} parameters)")
    return ", ".join(parts)


def check_baseline(base: str | Path) -> Path:
    """A complete run directory with a results table (RunDirError, one line, otherwise)."""
    base = Path(base)
    read_manifest(base)  # complete, readable, of this schema
    if not RunDir(base).table("results").is_file():
        raise RunDirError(f"--baseline: {base} has no results table")
    return base


def save_baseline(run_dir: str | Path, base: str | Path) -> Path:
    """Copy the baseline's per-runtime figures into `run_dir` (`baseline.json`)."""
    base = check_baseline(base)
    results = read_table(base, "results")
    record = {"format": FORMAT, "run_id": read_manifest(base).run_id or base.name, "path": str(base.resolve()),
              "size": size_label(base), "rows": best_per_runtime(results)}
    return write_json(RunDir(run_dir).baseline, record, indent=2)


def read_baseline(run_dir: str | Path) -> dict[str, Any] | None:
    path = RunDir(run_dir).baseline
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


def ranking_rows(current: list[dict[str, Any]], base: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """batch -> one row per runtime both runs measured at that batch: its rank and p50 in each, the
    ratio of the two p50s and the change of rank (positive: moved up)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for batch in sorted({r["batch"] for r in current} & {r["batch"] for r in base}):
        mine = {r["runtime"]: r for r in current if r["batch"] == batch}
        theirs = {r["runtime"]: r for r in base if r["batch"] == batch}
        shared = sorted(set(mine) & set(theirs))
        if not shared:
            continue
        rank_now = {rt: i for i, rt in enumerate(sorted(shared, key=lambda rt: mine[rt]["p50_ms"]), 1)}
        rank_base = {rt: i for i, rt in enumerate(sorted(shared, key=lambda rt: theirs[rt]["p50_ms"]), 1)}
        rows = []
        for rt in sorted(shared, key=lambda rt: rank_now[rt]):
            rows.append({"runtime": rt, "rank": rank_now[rt], "p50_ms": mine[rt]["p50_ms"],
                         "artifact": mine[rt]["artifact"], "base_rank": rank_base[rt],
                         "base_p50_ms": theirs[rt]["p50_ms"], "base_artifact": theirs[rt]["artifact"],
                         "ratio": mine[rt]["p50_ms"] / theirs[rt]["p50_ms"] if theirs[rt]["p50_ms"] > 0 else None,
                         "moved": rank_base[rt] - rank_now[rt],
                         "seq_len": mine[rt]["seq_len"], "base_seq_len": theirs[rt]["seq_len"],
                         "status": mine[rt].get("status", "ok"), "base_status": theirs[rt].get("status", "ok")})
        out[batch] = rows
    return out
