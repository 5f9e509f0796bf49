"""The history store: every run and re-measurement, one row per cell, to show a cell's trend.

Why SQLite (the standard library's sqlite3) rather than a Parquet file: several runs may finish at
once (a CI matrix, a Ray cluster's driver, two terminals), and SQLite appends under a lock in one
transaction; a Parquet file would have to be rewritten whole on every append and two writers would
lose each other's rows. Filtering on the key columns is plain SQL, and re-recording a run replaces
its rows inside the same transaction, so recording is idempotent. A run is keyed by its id AND the
machine that made it (fingerprint and host): a run with the same id from another machine is another
run. The layout is versioned and migrated (reports/history_store.py).

Where the store is (`store_location`, the first that applies):
  1. `--store PATH` (`twinbench history`) or `store=` (the API);
  2. `$TWINBENCH_HISTORY` (a path; `off` disables recording);
  3. the project's store, `./.twinbench/history.sqlite`, when a `.twinbench/` folder owned by this
     user exists in the current folder (where the command runs: CI caches that folder);
  4. `$XDG_DATA_HOME/twinbench/history.sqlite` (default `~/.local/share/twinbench/history.sqlite`).
`record` is called by the pipeline's `finish_run`, so `twinbench run` and `twinbench bench` both
record themselves; `history` reads the same place unless given `--store`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any, Mapping

from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.compare import CELL_KEY, IGNORED_CONFIG, IGNORED_VERSIONS
from twinbench.reports.format import text
from twinbench.reports.history_store import CELL_COLUMNS, CELL_EXTRA, RUN_COLUMNS, STAT_COLUMNS, connect
from twinbench.bench.repeats import fast_level, process_figures
from twinbench.reports.tables import load_run
from twinbench.reports.verdicts import MIN_PROCESSES

ENV = "TWINBENCH_HISTORY"
OFF = ("off", "0", "none", "false")
#: The project folder that holds a store of its own, looked for in the current folder.
PROJECT_DIR = ".twinbench"
HISTORY_COLUMNS = RUN_COLUMNS + CELL_KEY + STAT_COLUMNS + CELL_EXTRA
_NUMERIC = {"batch", "seq_len", "threads", "iterations", "repeats", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "cv",
            "throughput_sps", "between_spread", "mde", "state_fast", "git_dirty"}
_HEX = re.compile(r"[0-9a-fA-F]{4,40}")


def project_store(cwd: str | Path | None = None) -> Path | None:
    """`./.twinbench/history.sqlite` when `./.twinbench/` is a folder of this user's; None otherwise.
    A folder another user owns (a shared /tmp, say) is ignored with a warning: their store would
    receive this user's runs."""
    folder = Path(cwd or Path.cwd()) / PROJECT_DIR
    try:
        st = folder.stat()
    except OSError:
        return None
    if not folder.is_dir():
        return None
    if st.st_uid != os.geteuid():
        print(f"twinbench: warning: ignoring {folder} (owned by another user); set {ENV} to use its store",
              file=sys.stderr)
        return None
    return folder / "history.sqlite"


def default_store() -> Path:
    """`$TWINBENCH_HISTORY`, else the project's `.twinbench/` store, else the XDG data folder's."""
    env = os.environ.get(ENV, "").strip()
    if env and env.lower() not in OFF:
        return Path(env).expanduser()
    project = project_store()
    if project is not None:
        return project
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "twinbench" / "history.sqlite"


def recording_enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() not in OFF


def config_hash(config: Mapping[str, Any]) -> str:
    """What was asked for, minus where it was written: equal hashes mean the same measurement."""
    kept = {k: v for k, v in (config or {}).items() if k not in IGNORED_CONFIG}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def versions_hash(versions: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in (versions or {}).items() if k not in IGNORED_VERSIONS}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _figures(run: Any) -> dict[tuple, list[float]]:
    """Each cell's per-process figures, what a step test between two points compares: the
    fast-state p50 of every valid worker process (against the run's own fast level), or, where
    fewer than three processes saw a fast round (a loaded machine), every valid process's p50."""
    rounds, repeats = run.rounds, run.repeats
    if repeats is None or not len(repeats):
        return {}
    fast = {}
    if rounds is not None and len(rounds):
        level = fast_level([float(v) for v in rounds["probe_py_us"]])
        fast = {k: v["figures"] for k, v in process_figures(repeats, rounds, level, CELL_KEY).items()}
    every: dict[tuple, list[float]] = {}
    for row in repeats.to_dict("records"):
        v = row.get("p50_ms")
        if text(row.get("status")) in ("ok", "invalid") and v is not None and v == v:
            every.setdefault(tuple(text(row.get(c)) for c in CELL_KEY), []).append(float(v))
    return {k: fast[k] if len(fast.get(k, [])) >= MIN_PROCESSES else v for k, v in every.items()}


def _value(v: Any, col: str) -> Any:
    if col in _NUMERIC:
        try:
            return None if v is None or v != v else float(v)
        except (TypeError, ValueError):
            return None
    return text(v)


def record(run_dir: str | Path, store: str | Path | None = None) -> Path:
    """Add (or replace) a complete run's cells in the store; returns the store path. The run is
    keyed by (run id, machine fingerprint, host): the same id from another machine is kept apart."""
    run = load_run(run_dir)
    store = Path(store) if store else default_store()
    store.parent.mkdir(parents=True, exist_ok=True)
    m = run.manifest
    mach = m.machine
    dirty = m.git_dirty
    run_row = {"run_id": run.run_id, "created": text(m.created), "kind": text(m.kind or "run"),
               "source_run": text(m.source_run), "git_commit": text(m.git_commit),
               "git_dirty": None if dirty is None else float(bool(dirty)),
               "fingerprint": text(mach.fingerprint), "cpu_model": text(mach.cpu_model),
               "host": text(mach.host), "config_hash": config_hash(m.config),
               "versions_hash": versions_hash(m.versions), "versions": json.dumps(m.versions, sort_keys=True)}
    figures = _figures(run)
    cells = []
    for row in run.results.to_dict("records"):
        if text(row.get("twin")).startswith("_"):  # calibration: a machine figure, not a cell's trend
            continue
        key = tuple(text(row.get(c)) for c in CELL_KEY)
        vals = {c: _value(row.get(c), c) for c in CELL_KEY + STAT_COLUMNS if c != "figures"}
        vals["figures"] = json.dumps(figures.get(key, []))
        vals["machine_fingerprint"] = text(row.get("machine_fingerprint")) or run_row["fingerprint"]
        cells.append([vals[c] for c in CELL_COLUMNS])
    run_vals = [_value(run_row[c], c) for c in RUN_COLUMNS]
    with closing(connect(store)) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            old = con.execute("SELECT run_key FROM runs WHERE run_id = ? AND fingerprint = ? AND host = ?",
                              (run_row["run_id"], run_row["fingerprint"], run_row["host"])).fetchall()
            for (key,) in old:
                con.execute("DELETE FROM cells WHERE run_key = ?", (key,))
                con.execute("DELETE FROM runs WHERE run_key = ?", (key,))
            run_key = con.execute(f"INSERT INTO runs ({_cols(RUN_COLUMNS)}) VALUES ({_marks(RUN_COLUMNS)})",
                                  run_vals).lastrowid
            con.executemany(f"INSERT INTO cells (run_key, {_cols(CELL_COLUMNS)}) VALUES (?, {_marks(CELL_COLUMNS)})",
                            [[run_key, *c] for c in cells])
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    return store


def _cols(cols: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


def _marks(cols: list[str]) -> str:
    return ", ".join("?" * len(cols))


def record_quietly(run_dir: str | Path) -> Path | None:
    """The pipeline's call: record into the default store unless `TWINBENCH_HISTORY=off`; a store
    that cannot be written costs a warning on stderr, never the run."""
    if not recording_enabled():
        return None
    try:
        return record(run_dir)
    except (OSError, sqlite3.Error, RunDirError) as exc:
        print(f"twinbench: warning: run not recorded in the history store ({exc})", file=sys.stderr)
        return None


#: Filters that are not a plain column: `machine` matches a fingerprint prefix, CPU model, host or node tag.
SPECIAL_FILTERS = ("machine",)


def commit_prefix(value: Any) -> str:
    """A git commit given to filter on: 4 to 40 hex digits (a short SHA is a prefix), lower case."""
    given = str(value).strip()
    if not _HEX.fullmatch(given):
        raise ConfigError(f"--commit: a git commit id or a prefix of at least 4 hex digits, got {given!r}")
    return given.lower()


def history(cell_filter: Mapping[str, Any] | None = None, *, store: str | Path | None = None,
            **filters: Any) -> Any:
    """Rows of the store matching every given value (None values are ignored), oldest first.

    `history(twin="lstm", runtime="ort-cpu", batch=1)`; `machine="AMD"` matches a fingerprint
    prefix, a CPU model substring, a host name or an executor's node tag; `git_commit` a prefix of at
    least 4 hex digits."""
    import pandas as pd

    store = Path(store) if store else default_store()
    if not store.is_file():
        raise RunDirError(f"{store}: no history store yet (twinbench run / twinbench bench record into it; "
                          f"${ENV} or --store choose another)")
    wanted = {k: v for k, v in {**dict(cell_filter or {}), **filters}.items() if v is not None}
    where, params = [], []
    for col, value in wanted.items():
        if col == "machine":
            where.append("(r.fingerprint LIKE ? OR c.machine_fingerprint LIKE ? OR r.cpu_model LIKE ? "
                         "OR r.host = ? OR c.machine = ?)")
            params += [f"{value}%", f"{value}%", f"%{value}%", str(value), str(value)]
        elif col == "git_commit":
            where.append("lower(r.git_commit) LIKE ?")
            params.append(commit_prefix(value) + "%")
        elif col in HISTORY_COLUMNS:
            table = "r" if col in RUN_COLUMNS else "c"
            where.append(f'{table}."{col}" = ?')
            params.append(_value(value, col))
        else:
            raise ConfigError(f"history filter: unknown column {col!r} "
                              f"(known: {', '.join(HISTORY_COLUMNS + list(SPECIAL_FILTERS))})")
    cols = ", ".join([f'r."{c}"' for c in RUN_COLUMNS] + [f'c."{c}"' for c in CELL_KEY + STAT_COLUMNS + CELL_EXTRA])
    sql = f"SELECT {cols} FROM cells c JOIN runs r ON r.run_key = c.run_key"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY r.created, r.run_id, r.run_key"
    with closing(connect(store)) as con:
        rows = con.execute(sql, params).fetchall()
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for c in ("batch", "seq_len", "threads"):
        df[c] = df[c].astype("Int64")
    return df


def figures_of(row: Any) -> list[float]:
    """The per-process figures stored with a history row."""
    try:
        return [float(v) for v in json.loads(row["figures"] or "[]")]
    except (TypeError, ValueError):
        return []
