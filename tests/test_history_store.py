"""The history store as it changes and travels (issue 22 item 6, issue 20 "history keeps machines
apart"): a store of today's unversioned layout is migrated and recorded into; a run id from another
machine is another run; a cell's trend is per machine; the options are checked like compare's; the
HTML page only when asked; a short commit; the project's `.twinbench/` store. Real SQLite files,
real run directories, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "reports"))  # reportlib: recorded runs

from reportlib import MACHINE, make_run  # noqa: E402

from twinbench.reports.history import history, record, record_quietly  # noqa: E402
from twinbench.reports.history_store import STORE_VERSION  # noqa: E402

CELL = ["--twin", "lstm", "--runtime", "ort-cpu", "--artifact", "torch-dynamo", "--batch", "1", "--seq-len", "16"]
TITLE = "## lstm torch-dynamo @ ort-cpu cpu, batch 1, seq_len 16"
OTHER = dict(MACHINE, fingerprint="beefbeefbeefbeef", host="other-box", cpu_model="AMD EPYC 9654")

# The layout every store had before versions (reports/history.py before issue 22), as it wrote it.
V0_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs ("run_id" TEXT PRIMARY KEY, "created", "kind", "source_run", "git_commit", "git_dirty", "fingerprint", "cpu_model", "host", "config_hash", "versions_hash", "versions");
CREATE TABLE IF NOT EXISTS cells (run_id TEXT NOT NULL REFERENCES runs(run_id),
    "twin", "artifact", "exporter", "source", "precision", "runtime", "device", "batch", "seq_len", "threads", "machine", "status", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "cv", "throughput_sps", "iterations", "repeats", "between_spread", "mde", "state_fast", "figures");
CREATE INDEX IF NOT EXISTS cells_key ON cells (twin, runtime, artifact, batch, seq_len, threads);
CREATE INDEX IF NOT EXISTS cells_run ON cells (run_id);
"""


def tb(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TWINBENCH_CACHE": str(cwd / ".cache"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, cwd=cwd,
                          env={k: v for k, v in full.items() if v is not None}, timeout=300)


def one_line(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
    assert len(err) == 1 and needle in err[0], proc.stderr


def dated(d: Path, day: int, commit: str, **extra: object) -> Path:
    m = json.loads((d / "manifest.json").read_text())
    m.update(created=f"2026-11-{day:02d}T10:00:00+00:00", git_commit=commit, **extra)
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def point_lines(out: str, title: str = TITLE) -> dict[str, list[str]]:
    """Per machine header (the text after " on "), the table rows of that series."""
    found: dict[str, list[str]] = {}
    for block in out.split("\n## ")[1:]:
        head, _, body = block.partition("\n")
        if ("## " + head).startswith(title):
            found[head.split(" on ", 1)[1]] = [ln for ln in body.splitlines() if ln.startswith("| 2026")]
    return found


def v0_store(path: Path) -> Path:
    """A store in the unversioned layout with one run (machine MACHINE, 2026-11-01) of two cells,
    written the way the old code wrote it (positional inserts)."""
    with sqlite3.connect(path) as con:
        con.executescript(V0_SCHEMA)
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ["20261101-100000-000old", "2026-11-01T10:00:00+00:00", "run", "", "c" * 40, 0.0,
                     MACHINE["fingerprint"], MACHINE["cpu_model"], MACHINE["host"], "cfg0", "ver0", "{}"])
        for batch, p50 in ((1, 0.5), (8, 2.0)):
            con.execute(f"INSERT INTO cells VALUES ({', '.join('?' * 25)})",
                        ["20261101-100000-000old", "lstm", "torch-dynamo", "torch-dynamo", "torch", "fp32", "ort-cpu",
                         "cpu", batch, 16, 1, "", "ok", p50, p50, p50, p50, 0.01, 1.0, 100.0, 5.0, 0.01, 0.02, 1.0,
                         json.dumps([p50] * 5)])
    return path


def test_an_unversioned_store_is_migrated_recorded_into_and_read(tmp_path: Path) -> None:
    store = v0_store(tmp_path / "history.sqlite")
    record(dated(make_run(tmp_path / "runs", "20261102-100000-00new1", seed=1), 2, "d" * 40), store)
    with sqlite3.connect(store) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == STORE_VERSION
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    df = history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo", batch=1, seq_len=16)
    assert df["run_id"].tolist() == ["20261101-100000-000old", "20261102-100000-00new1"]
    assert set(df["machine_fingerprint"]) == {MACHINE["fingerprint"]}  # the old rows got their run's machine
    proc = tb(tmp_path, "history", *CELL, "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    series = point_lines(proc.stdout)
    assert list(series) == [f"machine {MACHINE['fingerprint'][:8]} ({MACHINE['cpu_model']})"]
    assert [ln.split("|")[2].strip() for ln in next(iter(series.values()))] == df["run_id"].tolist()


def test_an_older_unversioned_store_missing_columns_is_migrated(tmp_path: Path) -> None:
    """A store from before some columns existed (no `source`, `machine`, `state_fast`, `versions`)."""
    store = tmp_path / "old.sqlite"
    with sqlite3.connect(store) as con:
        con.executescript(V0_SCHEMA.replace(', "versions")', ")").replace('"source", ', "")
                          .replace('"machine", ', "").replace(', "state_fast"', ""))
        con.execute('INSERT INTO runs (run_id, created, fingerprint, host) VALUES ("r0", "2026-11-01", "f", "h")')
        con.execute('INSERT INTO cells (run_id, twin, runtime, batch, status, p50_ms) '
                    'VALUES ("r0", "lstm", "ort-cpu", 1, "ok", 1.5)')
    record(dated(make_run(tmp_path / "runs", "20261102-100000-00new1", seed=1), 2, "d" * 40), store)
    df = history(store=store, twin="lstm", runtime="ort-cpu", batch=1)
    assert "r0" in set(df["run_id"]) and len(df[df["run_id"] == "r0"]) == 1


def test_a_newer_or_foreign_store_is_one_line(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    record(make_run(tmp_path / "runs", seed=1), newer)
    with sqlite3.connect(newer) as con:
        con.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    one_line(tb(tmp_path, "history", "--store", str(newer)), 2, "written by a newer twinbench")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    one_line(tb(tmp_path, "history", "--store", str(tmp_path / "junk.sqlite")), 2, "unreadable history store")


def test_the_same_run_id_from_another_machine_is_another_run(tmp_path: Path) -> None:
    store = tmp_path / "history.sqlite"
    here = make_run(tmp_path / "a", "nightly", seed=1)
    there = make_run(tmp_path / "b", "nightly", seed=2, slowdown=3.0, machine=OTHER)
    record(here, store)
    record(there, store)
    record(here, store)  # again: replaces its own rows only
    df = history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo", batch=1, seq_len=16)
    assert sorted(df["fingerprint"]) == sorted([MACHINE["fingerprint"], OTHER["fingerprint"]])
    assert df["run_id"].tolist() == ["nightly", "nightly"]


def test_history_keeps_machines_apart(tmp_path: Path) -> None:
    """Two machines, one 3x slower, recorded alternately: each machine is its own series with no
    step (pooled, every point would be a step); a real slowdown on one machine is a step there only."""
    runs, store = tmp_path / "runs", tmp_path / "history.sqlite"
    day = 1
    for i in range(3):
        for machine, slow in ((MACHINE, 1.0), (OTHER, 3.0)):
            tag = "a" if machine is MACHINE else "b"
            record(dated(make_run(runs, f"202611{day:02d}-100000-0000{tag}{i}", seed=day, slowdown=slow,
                                  machine=machine), day, f"{i}" * 40), store)
            day += 1
    proc = tb(tmp_path, "history", *CELL, "--store", str(store), "--fail-on-step")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    series = point_lines(proc.stdout)
    assert sorted(series) == sorted([f"machine {OTHER['fingerprint'][:8]} ({OTHER['cpu_model']})",
                                     f"machine {MACHINE['fingerprint'][:8]} ({MACHINE['cpu_model']})"])
    assert all(len(lines) == 3 for lines in series.values())
    assert "STEP" not in proc.stdout and " 0 step(s)" in proc.stdout

    from twinbench.api import steps

    df = history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo", batch=1, seq_len=16)
    assert steps(df) == []
    # machine a gets 40% slower at its fourth point: a step in a's series, b untouched
    record(dated(make_run(runs, "20261120-100000-00000a3", seed=40, slowdown=1.4), 20, "3" * 40), store)
    proc = tb(tmp_path, "history", *CELL, "--store", str(store), "--fail-on-step")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    series = point_lines(proc.stdout)
    mine = series[f"machine {MACHINE['fingerprint'][:8]} ({MACHINE['cpu_model']})"]
    theirs = series[f"machine {OTHER['fingerprint'][:8]} ({OTHER['cpu_model']})"]
    assert "STEP REGRESSION" in mine[3] and not any("STEP" in ln for ln in mine[:3] + theirs)
    found = steps(history(store=store, twin="lstm", runtime="ort-cpu", artifact="torch-dynamo", batch=1,
                          seq_len=16))
    assert [(c["machine_fingerprint"], s.verdict) for c, s in found] == [(MACHINE["fingerprint"], "REGRESSION")]


@pytest.mark.parametrize("args,needle", [
    (["--min-effect", "-1"], "--min-effect: must be a number > 0 and < 1"),
    (["--min-effect", "1"], "--min-effect: must be"),
    (["--min-effect", "inf"], "--min-effect: must be"),
    (["--alpha", "5"], "--alpha: must be a number > 0 and < 1"),
    (["--alpha", "nan", "--fail-on-step"], "--alpha: must be"),
    (["--alpha", "0"], "--alpha: must be"),
    (["--commit", "abc"], "--commit: a git commit id or a prefix of at least 4 hex digits"),
    (["--commit", "zzzz1"], "--commit:"),
])
def test_options_are_checked_like_compare(tmp_path: Path, args: list[str], needle: str) -> None:
    store = tmp_path / "history.sqlite"
    record(make_run(tmp_path / "runs", seed=1), store)
    one_line(tb(tmp_path, "history", "--store", str(store), *args), 2, needle)
    assert not (tmp_path / "history.html").exists()


def test_html_only_when_asked_and_a_short_commit_matches(tmp_path: Path) -> None:
    runs, store = tmp_path / "runs", tmp_path / "history.sqlite"
    record(dated(make_run(runs, "20261101-100000-000001", seed=1), 1, "ab12cd34" + "0" * 32), store)
    record(dated(make_run(runs, "20261102-100000-000002", seed=2), 2, "ff00" + "1" * 36), store)
    proc = tb(tmp_path, "history", *CELL, "--store", str(store), "--commit", "AB12")
    assert proc.returncode == 0, proc.stderr
    assert [ln.split("|")[2].strip() for ln in next(iter(point_lines(proc.stdout).values()))] == [
        "20261101-100000-000001"]
    assert not (tmp_path / "history.html").exists() and "html:" not in proc.stdout
    page = tmp_path / "out" / "trend.html"
    proc = tb(tmp_path, "history", *CELL, "--store", str(store), "--html", str(page))
    assert proc.returncode == 0 and page.is_file() and f"html: {page}" in proc.stdout
    one_line(tb(tmp_path, "history", "--store", str(store), "--html", str(tmp_path)), 2, "--html: cannot write")


def test_the_project_store_beside_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule: $TWINBENCH_HISTORY, else ./.twinbench/history.sqlite when ./.twinbench/ exists (owned by
    this user), else the XDG data folder."""
    monkeypatch.delenv("TWINBENCH_HISTORY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    project = tmp_path / "proj"
    (project / ".twinbench").mkdir(parents=True)
    run = make_run(tmp_path / "runs", seed=1)
    monkeypatch.chdir(project)
    assert record_quietly(run) == project / ".twinbench" / "history.sqlite"
    assert (project / ".twinbench" / "history.sqlite").is_file() and not (tmp_path / "xdg").exists()
    env = {"TWINBENCH_HISTORY": None, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    proc = tb(project, "history", *CELL, env=env)
    assert proc.returncode == 0 and run.name in proc.stdout, proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    one_line(tb(elsewhere, "history", env=env), 2, str(tmp_path / "xdg" / "twinbench" / "history.sqlite"))
    monkeypatch.chdir(elsewhere)
    record_quietly(run)
    assert (tmp_path / "xdg" / "twinbench" / "history.sqlite").is_file()
    # the variable wins over the project folder
    monkeypatch.chdir(project)
    monkeypatch.setenv("TWINBENCH_HISTORY", str(tmp_path / "explicit.sqlite"))
    assert record_quietly(run) == tmp_path / "explicit.sqlite"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder owned by another user")
def test_a_project_folder_of_another_user_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from twinbench.reports.history import default_store

    monkeypatch.delenv("TWINBENCH_HISTORY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / ".twinbench").mkdir()
    os.chown(tmp_path / ".twinbench", 65534, 65534)
    monkeypatch.chdir(tmp_path)
    assert default_store() == tmp_path / "xdg" / "twinbench" / "history.sqlite"
    assert "owned by another user" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_run_records_into_the_project_store(tmp_path: Path) -> None:
    """`twinbench run` in a folder with `.twinbench/` records there, and `twinbench history` there reads it."""
    from test_reliability import tiny_onnx

    (tmp_path / ".twinbench").mkdir()
    tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "s.toml").write_text('batches = [1]\ncalibration = false\nout_dir = "runs"\n'
                                     '[timing]\nmin_iters = 5\nmin_s = 0.05\nmax_s = 0.3\nrepeats = 1\n')
    env = {"TWINBENCH_HISTORY": None, "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "TWINBENCH_LOCK": str(tmp_path / "bench.lock")}
    proc = tb(tmp_path, "run", "s.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / ".twinbench" / "history.sqlite").is_file() and not (tmp_path / "xdg").exists()
    proc = tb(tmp_path, "history", "--runtime", "ort-cpu", env=env)
    assert proc.returncode == 0 and "## user tiny @ ort-cpu" in proc.stdout, proc.stdout + proc.stderr
