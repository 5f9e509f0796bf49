"""A local results store: one summary row per cell per recorded run, to show a cell's trend.

The store is a Parquet file (default `runs/history.parquet`, next to the run directories). It is
rewritten atomically on every `record`; recording a run again replaces its rows, so re-running the
recorder is harmless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twinbench.atomic import write_with
from twinbench.errors import RunDirError
from twinbench.reports.compare import CELL_KEY
from twinbench.reports.format import fnum, md_table, text

DEFAULT_STORE = Path("runs") / "history.parquet"
RUN_COLUMNS = ["run_id", "created", "git_commit", "fingerprint", "cpu_model"]
STAT_COLUMNS = ["status", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "cv", "throughput_sps", "iterations"]
HISTORY_COLUMNS = RUN_COLUMNS + CELL_KEY + STAT_COLUMNS
TEXT_KEY = [c for c in CELL_KEY if c not in ("batch", "seq_len", "threads")]


def _read_store(store: Path) -> Any:
    import pandas as pd

    if not store.exists():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    try:
        return pd.read_parquet(store)
    except Exception as exc:  # pyarrow raises several kinds for a damaged file
        raise RunDirError(f"{store}: unreadable history store ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None


def record(run_dir: str | Path, store: str | Path | None = None) -> Path:
    """Append (or replace) a run's cells in the store; returns the store path.

    The default store is `history.parquet` in the run directory's parent (normally `runs/`)."""
    import pandas as pd

    from twinbench.reports.tables import load_run

    run = load_run(run_dir)
    store = Path(store) if store else Path(run_dir).parent / DEFAULT_STORE.name
    m = run.manifest
    mach = m.get("machine") or {}
    rows = run.results[CELL_KEY + STAT_COLUMNS].copy()
    for c in TEXT_KEY:
        rows[c] = rows[c].map(text)
    rows.insert(0, "cpu_model", str(mach.get("cpu_model", "")))
    rows.insert(0, "fingerprint", str(mach.get("fingerprint", "")))
    rows.insert(0, "git_commit", str(m.get("git_commit") or ""))
    rows.insert(0, "created", str(m.get("created", "")))
    rows.insert(0, "run_id", run.run_id)
    old = _read_store(store)
    old = old[old["run_id"].astype(str) != run.run_id] if len(old) else old
    parts = [df for df in (old, rows[HISTORY_COLUMNS]) if len(df)]
    new = pd.concat(parts, ignore_index=True) if parts else rows[HISTORY_COLUMNS]
    for c in ("status", "run_id", "created", "git_commit", "fingerprint", "cpu_model", *TEXT_KEY):
        new[c] = new[c].map(text)
    write_with(store, lambda tmp: new.to_parquet(tmp, index=False))
    return store


def history(cell_filter: dict[str, Any] | None = None, *, store: str | Path | None = None,
            **filters: Any) -> Any:
    """Rows of the store matching every given column value (None values are ignored), oldest first.

    `history({"twin": "lstm", "batch": 8})` or `history(twin="lstm", runtime="ort-cpu")`."""
    from twinbench.errors import ConfigError

    store = Path(store) if store else DEFAULT_STORE
    if not store.exists():
        raise RunDirError(f"{store}: no history store yet (record a run with twinbench.reports.history.record)")
    df = _read_store(store)
    wanted = {**(cell_filter or {}), **filters}
    for col, value in wanted.items():
        if value is None:
            continue
        if col not in df.columns:
            raise ConfigError(f"history filter: unknown column {col!r} (known: {', '.join(HISTORY_COLUMNS)})")
        df = df[df[col].map(text) == text(value)]
    return df.sort_values(["created", "run_id"], kind="stable").reset_index(drop=True)


def history_markdown(df: Any) -> str:
    """One table per cell: its p50 per run and the change against the previous run."""
    if not len(df):
        return "# twinbench history\n\nNo recorded runs match.\n"
    out = ["# twinbench history", ""]
    for key, g in df.groupby([c for c in CELL_KEY if c in df.columns], sort=True):
        cell = dict(zip(CELL_KEY, key))
        out += [f"## {cell['twin']} {cell['artifact']} @ {cell['runtime']} {cell['device']}, batch {cell['batch']}, "
                f"seq_len {cell['seq_len']}, threads {cell['threads']}", ""]
        rows, prev = [], None
        for r in g.itertuples():
            p50 = float(r.p50_ms) if r.p50_ms == r.p50_ms and r.p50_ms is not None else None
            delta = f"{(p50 / prev - 1) * 100:+.1f}%" if p50 and prev else "-"
            rows.append((r.created, r.run_id, text(r.git_commit)[:10], r.status, fnum(r.p50_ms), fnum(r.p99_ms),
                         fnum(r.cv, 2), delta))
            prev = p50 or prev
        out += [md_table(["created", "run", "commit", "status", "p50 ms", "p99 ms", "CV", "vs previous"], rows,
                         "llllrrrr"), ""]
    return "\n".join(out)
