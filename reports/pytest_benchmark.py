"""pytest-benchmark JSON (`--benchmark-json`) into a twinbench run directory.

Teams that already gate on pytest-benchmark keep their suite; this turns its output into the
results schema so `twinbench report` renders it and `twinbench compare` can test it. Cell identity
comes from the `twinbench_*` extra_info keys the `twinbench_cell` fixture records
(bench/pytest_plugin.py). Any other benchmark is not a twinbench cell and claims none of a cell's
fields: its identity is its `fullname` (in `artifact`), every other key column is empty, and its own
`name`, `group` and `params` are kept in the extra columns `benchmark`, `group`, `params` (every
row has them), which `compare` and the report show. Its `throughput_sps` is calls per second.
Per-round times (`--benchmark-save-data`) become the samples file.

Processes: compare verdicts rest on one figure per worker process (reports/verdicts.py). A
pytest-benchmark JSON file is ONE pytest session, so ONE process per benchmark: its rounds ran in
the same process, one after another, and are not independent evidence. So a single file gives one
process figure per cell (its median) and `twinbench compare a.json b.json` answers INCONCLUSIVE
("too few valid processes"). A folder of saved sessions (`.benchmarks/`, or any
`--benchmark-storage` folder) is several processes: every session of the folder's newest commit is
one process of one run, so three `pytest --benchmark-autosave` sessions per side give verdicts.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.core.schema import SCHEMA_VERSION
from twinbench.core.errors import RunDirError, summary
from twinbench.bench.stats import between_spread, mde
from twinbench.bench.stats import summarize
from twinbench.core.manifest import write_json_atomic
from twinbench.core.tables import write_table
from twinbench.reports.format import text

EXTRA_PREFIX = "twinbench_"
#: Columns a converted run adds to results / repeats (docs/schema.md): pytest-benchmark's own identity.
OWN_COLUMNS = ("benchmark", "group", "params")
CELL_FIELDS = ("twin", "artifact", "exporter", "source", "precision", "runtime", "device", "batch", "seq_len",
               "threads")


def read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RunDirError(f"{path}: corrupt JSON ({summary(str(exc).splitlines()[0] if str(exc) else exc, 160)})") \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise RunDirError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return data


# typed reading: every field a figure or an identity comes from is checked here, once -------------------

def _table(value: Any, where: str) -> dict[str, Any]:
    """A JSON object field (None: empty); anything else is one RunDirError line."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunDirError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    """A text field (None: empty; numbers are written as text); a list or object is refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RunDirError(f"{where}: expected text, got {type(value).__name__}")
    return str(value)


def _seconds(value: Any, where: str) -> float:
    """A time in seconds: a finite number >= 0 (a NaN or a negative time would become a figure)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise RunDirError(f"{where}: expected a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _whole(value: Any, where: str) -> int | None:
    """A positive whole number (given as a number or as text), or None when absent."""
    if value is None or value == "":
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or number < 1 or number != int(number) or number > 2**40:
        raise RunDirError(f"{where}: is not a positive integer: {value!r}")
    return int(number)


def _name(bench: dict[str, Any]) -> str:
    name = bench.get("fullname") or bench.get("name") or "?"
    return name if isinstance(name, str) else "?"


def _cell(bench: dict[str, Any]) -> dict[str, Any]:
    """The cell key of a benchmark: the fixture's `twinbench_*` keys, else nothing but its fullname."""
    where = f"benchmark {_name(bench)}"
    extra = _table(bench.get("extra_info"), f"{where}: extra_info")
    mine = {k[len(EXTRA_PREFIX):]: v for k, v in extra.items() if isinstance(k, str) and k.startswith(EXTRA_PREFIX)
            and k[len(EXTRA_PREFIX):] in CELL_FIELDS}
    cell: dict[str, Any] = {k: "" for k in CELL_FIELDS}
    cell.update(batch=None, seq_len=None, threads=None)
    if mine:
        cell.update(twin=_text(bench.get("group"), f"{where}: group"), artifact=_text(bench.get("name"), f"{where}: name")
                    or "?")
        for k, v in mine.items():
            cell[k] = v if k in ("batch", "seq_len", "threads") else _text(v, f"{where}: extra_info {EXTRA_PREFIX}{k}")
    else:
        cell["artifact"] = _name(bench)
    for k in ("batch", "seq_len", "threads"):
        cell[k] = _whole(cell[k], f"{where}: extra_info {EXTRA_PREFIX}{k}")
    return cell


def _row(bench: dict[str, Any], run_id: str, index: int) -> tuple[dict[str, Any], Any]:
    """A results row and its per-round samples (int64 ns, or None), checked: every time a finite
    number of seconds >= 0, so no NaN or negative time reaches a figure."""
    cell = _cell(bench)
    where = f"benchmark {_name(bench)}"
    stats = _table(bench.get("stats"), f"{where}: stats")
    params = bench.get("params")
    row: dict[str, Any] = dict(run_id=run_id, **cell, status="ok", error="", warmup_iters=None,
                               io_in_timing=False, threads_actual=cell["threads"] or None,
                               runtime_settings=json.dumps(bench.get("options") or {}, sort_keys=True, default=str),
                               benchmark=_text(bench.get("name"), f"{where}: name"),
                               group=_text(bench.get("group"), f"{where}: group"),
                               params=json.dumps(params, sort_keys=True, default=str) if params else "")
    per_call = cell["batch"] or 1  # a plain benchmark: throughput is calls per second
    data = stats.get("data")
    if isinstance(data, list) and data:
        seconds = np.asarray([_seconds(v, f"{where}: stats.data[{i}]") for i, v in enumerate(data)], dtype=np.float64)
        if float(seconds.max()) > 1e6:
            raise RunDirError(f"{where}: stats.data holds a round of {seconds.max():g} s (over 11 days)")
        ns = np.round(seconds * 1e9).astype(np.int64)
        row.update(summarize(ns, per_call), samples_file=f"cells/pytest-{index:04d}.npy")
        return row, ns
    if data is not None and not isinstance(data, list):
        raise RunDirError(f"{where}: stats.data: expected a list of seconds, got {type(data).__name__}")
    missing = [k for k in ("mean", "median", "min", "max", "stddev") if k not in stats]
    if missing:
        raise RunDirError(f"{where}: stats incomplete (no {', '.join(missing)})")
    got = {k: _seconds(stats[k], f"{where}: stats.{k}") for k in ("mean", "median", "min", "max", "stddev")}
    rounds = stats.get("rounds", 0)
    mean_s, med_s = got["mean"], got["median"]
    row.update(iterations=_whole(rounds, f"{where}: stats.rounds") if rounds else 0,
               measured_s=_seconds(stats["total"], f"{where}: stats.total") if stats.get("total") is not None
               else math.nan,
               min_ms=got["min"] * 1e3, mean_ms=mean_s * 1e3, std_ms=got["stddev"] * 1e3,
               p50_ms=med_s * 1e3, max_ms=got["max"] * 1e3,
               cv=got["stddev"] / mean_s if mean_s > 0 else math.nan,
               throughput_sps=per_call / mean_s if mean_s > 0 else math.nan, samples_file="")
    return row, None


def _manifest(data: dict[str, Any], run_id: str, source: Path) -> dict[str, Any]:
    mi = _table(data.get("machine_info"), f"{source}: machine_info")
    cpu = _table(mi.get("cpu"), f"{source}: machine_info.cpu")
    model = _text(cpu.get("brand_raw") or mi.get("processor"), f"{source}: machine_info.cpu.brand_raw") or "?"
    cores = _whole(cpu.get("count"), f"{source}: machine_info.cpu.count") or 0
    text = {k: _text(mi.get(k), f"{source}: machine_info.{k}") for k in ("system", "machine", "node", "release",
                                                                        "python_version")}
    key = f"{model}|{cores}|-|{text['system']}|{text['machine']}"
    ci = _table(data.get("commit_info"), f"{source}: commit_info")
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "created": _text(data.get("datetime"), f"{source}: datetime"),
        "status": "complete", "config": {"source": "pytest-benchmark", "file": str(source)},
        "versions": {"python": text["python_version"], "pytest-benchmark": _text(data.get("version"), f"{source}: version")},
        "machine": {"fingerprint": hashlib.sha1(key.encode()).hexdigest()[:16], "host": text["node"],
                    "os": f"{text['system']} {text['release']}".strip(), "arch": text["machine"],
                    "cpu_model": model, "cpu_cores": cores, "cpu_flags": [], "memory_gb": None, "gpu": None},
        "git_commit": _text(ci.get("id"), f"{source}: commit_info.id") or None, "timings": {},
    }


def _commit(data: dict[str, Any]) -> tuple[Any, Any]:
    """(commit id, dirty) of a session, as text, for grouping a folder's sessions by commit."""
    ci = data.get("commit_info")
    ci = ci if isinstance(ci, dict) else {}
    return str(ci.get("id")), str(ci.get("dirty"))


def _session_files(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every pytest-benchmark JSON under `folder` (skipping twinbench's own converted folders)."""
    out = []
    for f in sorted(folder.rglob("*.json")):
        if any(part.endswith(".twinbench") for part in f.relative_to(folder).parts):
            continue
        try:
            out.append((f, read_json(f)))
        except RunDirError:
            continue
    return out


def sessions(path: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """The pytest sessions a path stands for, oldest first: a JSON file is one; a folder holds the
    sessions of its newest commit (by `commit_info.id` and `dirty`)."""
    path = Path(path)
    if path.is_file():
        return [(path, read_json(path))]
    if not path.is_dir():
        raise RunDirError(f"{path}: not found")
    found = _session_files(path)
    if not found:
        raise RunDirError(f"{path}: no pytest-benchmark JSON files in the folder")
    found.sort(key=lambda fd: (str(fd[1].get("datetime", "")), fd[0].name))
    newest = _commit(found[-1][1])
    return [(f, d) for f, d in found if _commit(d) == newest]


def is_pytest_run(run: Any) -> bool:
    """A loaded run directory (tables.RunData) converted from pytest-benchmark output."""
    return run.manifest.config.get("source") == "pytest-benchmark"


def own_label(row: Any) -> tuple[str, str, str]:
    """(group, benchmark name, params as `k=v, ...`) of a converted row, as pytest-benchmark users know it."""
    def get(k: str) -> str:
        return text(row.get(k) if hasattr(row, "get") else getattr(row, k, ""))

    params = get("params")
    try:
        shown = ", ".join(f"{k}={v}" for k, v in json.loads(params).items()) if params else ""
    except (ValueError, AttributeError):
        shown = params
    return get("group"), get("benchmark"), shown


def is_pytest_benchmark(path: str | Path) -> bool:
    """A pytest-benchmark JSON file, or a folder of them that is not a run directory."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".json"
    return path.is_dir() and not (path / "manifest.json").exists() and bool(_session_files(path))


def as_run_dir(path: str | Path) -> Path:
    """The run directory for a path the CLI was given: a run directory as is, pytest-benchmark
    output (file or folder) converted first."""
    path = Path(path)
    if path.is_file() and path.suffix != ".json":
        raise RunDirError(f"{path}: not a run directory nor a pytest-benchmark .json file")
    return to_run_dir(path) if is_pytest_benchmark(path) else path


def _process_tables(per_cell: dict[tuple, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                          list[dict[str, Any]]]:
    """Results (headline over sessions), repeats (one row per session) and rounds (one per session,
    probe 0: pytest-benchmark records no machine state, so every session counts as fast)."""
    results, repeats, rounds = [], [], []
    for rows in per_cell.values():
        figs = np.asarray([float(r["p50_ms"]) for r in rows], dtype=np.float64)
        med = float(np.median(figs))
        spread = between_spread(figs)
        per_call = rows[-1]["batch"] or 1
        head = dict(rows[-1], p50_ms=med, repeats=len(rows), between_spread=spread, mde=mde(spread, len(rows)),
                    throughput_sps=per_call / (med / 1e3) if med > 0 else math.nan,
                    state_fast=1.0, headline=f"median of {len(rows)} pytest session median(s), one process each")
        results.append(head)
        for i, r in enumerate(rows):
            repeats.append(dict(r, repeat=i, fast_p50_ms=r["p50_ms"], rounds=1))
            rounds.append({**{k: r[k] for k in ("run_id", *CELL_FIELDS)}, "repeat": i, "round": 0, "probe_py_us": 0.0,
                           "probe_np_us": 0.0, "count": r.get("iterations"), "p50_ms": r["p50_ms"], "fast": True})
    return results, repeats, rounds


def to_run_dir(json_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write a run directory (default `<name>.twinbench/` beside the file or folder); returns its
    path. Each session is one process (see the module docstring).

    Every session is read and checked before anything is written, so a malformed file leaves no
    half-made folder behind. Re-running it rewrites the directory's tables from the JSON, so they
    always reflect the files (a report written there earlier stays until rebuilt)."""
    import pandas as pd

    json_path = Path(json_path)
    found = sessions(json_path)
    name = json_path.stem if json_path.is_file() else json_path.name.lstrip(".") or "benchmarks"
    run_dir = Path(out_dir) if out_dir else json_path.with_name(
        (json_path.stem if json_path.is_file() else json_path.name) + ".twinbench")
    run_id = f"pytest-benchmark-{name}"
    manifest = _manifest(found[-1][1], run_id, json_path)
    prints = {_manifest(d, run_id, f)["machine"]["fingerprint"] for f, d in found}
    if len(prints) > 1:
        raise RunDirError(f"{json_path}: sessions from {len(prints)} different machines; keep one machine's "
                          "sessions per folder")
    manifest["config"]["sessions"] = [str(f) for f, _ in found]
    per_cell: dict[tuple, list[dict[str, Any]]] = {}
    samples: dict[str, Any] = {}
    index = 0
    for f, data in found:
        for i, b in enumerate(data["benchmarks"]):
            if not isinstance(b, dict):
                raise RunDirError(f"{f}: benchmarks[{i}]: expected an object, got {type(b).__name__}")
            row, ns = _row(b, run_id, index)
            if ns is not None:
                samples[row["samples_file"]] = ns
            index += 1
            per_cell.setdefault(tuple(row[k] for k in CELL_FIELDS), []).append(row)
    if not per_cell:
        raise RunDirError(f"{json_path}: no benchmarks in the file")
    if run_dir.exists() and not _converted(run_dir):
        raise RunDirError(f"{run_dir}: exists and is not a converted pytest-benchmark folder; not overwritten")
    results, repeats, rounds = _process_tables(per_cell)
    (run_dir / "cells").mkdir(parents=True, exist_ok=True)  # only now: every session read and checked
    write_json_atomic(run_dir / "manifest.json", dict(manifest, status="running"))
    for rel, ns in samples.items():
        np.save(run_dir / rel, ns)
    write_table(pd.DataFrame(results), run_dir, "results")
    write_table(pd.DataFrame(repeats), run_dir, "repeats")
    write_table(pd.DataFrame(rounds), run_dir, "rounds")
    write_table(pd.DataFrame(), run_dir, "parity")
    write_table(pd.DataFrame(), run_dir, "training")
    write_json_atomic(run_dir / "manifest.json", manifest)
    return run_dir


def _converted(run_dir: Path) -> bool:
    """A folder this module wrote (its manifest says it came from pytest-benchmark)."""
    try:
        data = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("config"), dict) \
        and data["config"].get("source") == "pytest-benchmark"
