"""The history store's layout and its versions: what a store on disk looks like, and how an older one
becomes the current one.

The version lives in the SQLite file itself (`PRAGMA user_version`), so a store says what it is
whatever twinbench opens it. Opening a store brings it to `STORE_VERSION` in one transaction
(`BEGIN IMMEDIATE`, so two processes never migrate at once); a store written by a newer twinbench
is refused with one line. Every insert and select names its columns, so a column added by a later
version never shifts the others.

Versions (write the next one down here, with its migration in MIGRATIONS):
  0  unversioned (before issue 22): `runs` keyed by run id alone, `cells` joined by run id. Older
     stores of that layout may lack some columns; the migration adds them.
  1  `runs` keyed by (run id, machine fingerprint, host) through an integer `run_key`, so a run with
     the same id from another machine is a run of its own; `cells` refer to `run_key` and carry the
     fingerprint of the machine that measured them (`machine_fingerprint`; a Ray node's own).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

from twinbench.core.errors import RunDirError
from twinbench.reports.compare import CELL_KEY

STORE_VERSION = 1

#: One row per recorded run: what makes two points comparable (or not).
RUN_COLUMNS = ["run_id", "created", "kind", "source_run", "git_commit", "git_dirty", "fingerprint", "cpu_model",
               "host", "config_hash", "versions_hash", "versions"]
#: One row per cell of a run: the headline figures and the per-process figures behind them.
STAT_COLUMNS = ["machine", "status", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "cv", "throughput_sps", "iterations",
                "repeats", "between_spread", "mde", "state_fast", "figures"]
#: Per cell, beyond the key and the figures: the measuring machine (version 1).
CELL_EXTRA = ["machine_fingerprint"]
CELL_COLUMNS = CELL_KEY + STAT_COLUMNS + CELL_EXTRA


def _q(cols: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


_TABLES_V1 = f"""
CREATE TABLE runs (run_key INTEGER PRIMARY KEY, {_q(RUN_COLUMNS)},
    UNIQUE (run_id, fingerprint, host));
CREATE TABLE cells (run_key INTEGER NOT NULL REFERENCES runs(run_key), {_q(CELL_COLUMNS)});
"""
_INDEXES_V1 = """
CREATE INDEX IF NOT EXISTS cells_key ON cells (twin, runtime, artifact, batch, seq_len, threads);
CREATE INDEX IF NOT EXISTS cells_run ON cells (run_key);
CREATE INDEX IF NOT EXISTS runs_id ON runs (run_id);
"""


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]


def _create(con: sqlite3.Connection) -> None:
    """An empty store at the current version."""
    for stmt in (_TABLES_V1 + _INDEXES_V1).split(";"):  # not executescript: it would commit the transaction
        if stmt.strip():
            con.execute(stmt)


def _v0_to_v1(con: sqlite3.Connection) -> None:
    """Unversioned -> 1: add what an older v0 store lacks, re-key runs by (run id, fingerprint,
    host), point cells at their run's key and give them the run's fingerprint."""
    v0_cells = ["run_id"] + CELL_KEY + STAT_COLUMNS
    for table, wanted in (("runs", RUN_COLUMNS), ("cells", v0_cells)):
        if table not in _tables(con):
            con.execute(f'CREATE TABLE "{table}" ("run_id")')
        have = set(_columns(con, table))
        for col in wanted:
            if col not in have:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{col}"')
    con.execute("ALTER TABLE runs RENAME TO runs_v0")
    con.execute("ALTER TABLE cells RENAME TO cells_v0")
    for name in ("cells_key", "cells_run"):
        con.execute(f'DROP INDEX IF EXISTS "{name}"')
    _create(con)
    kept = [c for c in RUN_COLUMNS if c not in ("fingerprint", "host")]
    con.execute(f"INSERT INTO runs ({_q(kept)}, fingerprint, host) "
                f"SELECT {_q(kept)}, COALESCE(fingerprint, ''), COALESCE(host, '') FROM runs_v0")
    moved = CELL_KEY + STAT_COLUMNS
    from_v0 = ", ".join(f'c."{c}"' for c in moved)
    con.execute(f"INSERT INTO cells (run_key, {_q(moved)}, machine_fingerprint) "
                f"SELECT r.run_key, {from_v0}, r.fingerprint "
                f"FROM cells_v0 c JOIN runs r ON r.run_id = c.run_id")
    con.execute("DROP TABLE cells_v0")
    con.execute("DROP TABLE runs_v0")


#: version -> the function that brings a store of that version to the next one.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _v0_to_v1}


def connect(store: Path) -> sqlite3.Connection:
    """The store opened and brought to STORE_VERSION; RunDirError (one line) for a file that is not
    a store, a newer store, or an old one that cannot be migrated here."""
    try:
        con = sqlite3.connect(str(store), timeout=60, isolation_level=None)
    except sqlite3.Error as exc:
        raise RunDirError(f"{store}: cannot open the history store ({exc})") from None
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version != STORE_VERSION:
            _upgrade(con, store)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise RunDirError(f"{store}: unreadable history store ({exc})") from None
    except BaseException:
        con.close()
        raise
    return con


def _upgrade(con: sqlite3.Connection, store: Path) -> None:
    con.execute("BEGIN IMMEDIATE")  # one migrating process at a time; re-read the version under the lock
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > STORE_VERSION:
            raise RunDirError(f"{store}: history store version {version} was written by a newer twinbench "
                              f"(this one reads up to version {STORE_VERSION}); upgrade twinbench or use --store")
        if version == 0 and "runs" not in _tables(con):
            _create(con)
        else:
            while version < STORE_VERSION:
                MIGRATIONS[version](con)
                version += 1
        con.execute(f"PRAGMA user_version = {STORE_VERSION}")
        con.execute("COMMIT")
    except BaseException as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
            raise RunDirError(f"{store}: history store needs upgrading to version {STORE_VERSION} but cannot "
                              f"be written ({exc})") from None
        raise
