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
from twinbench.core.errors import RunDirError
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: corrupt JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise RunDirError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return data


def _cell(bench: dict[str, Any]) -> dict[str, Any]:
    """The cell key of a benchmark: the fixture's `twinbench_*` keys, else nothing but its fullname."""
    extra = bench.get("extra_info") or {}
    mine = {k[len(EXTRA_PREFIX):]: v for k, v in extra.items() if k.startswith(EXTRA_PREFIX) and
            k[len(EXTRA_PREFIX):] in CELL_FIELDS}
    cell: dict[str, Any] = {k: "" for k in CELL_FIELDS}
    cell.update(batch=None, seq_len=None, threads=None)
    if mine:
        cell.update(twin=bench.get("group") or "", artifact=bench.get("name", "?"))
        cell.update(mine)
    else:
        cell["artifact"] = bench.get("fullname") or bench.get("name", "?")
    for k in ("batch", "seq_len", "threads"):
        if cell[k] is None or cell[k] == "":
            cell[k] = None
            continue
        try:
            cell[k] = int(cell[k])
        except (TypeError, ValueError):
            raise RunDirError(f"benchmark {bench.get('fullname', '?')}: extra_info {EXTRA_PREFIX}{k} "
                              f"is not an integer: {cell[k]!r}") from None
    return cell


def _row(bench: dict[str, Any], run_id: str, run_dir: Path, index: int) -> dict[str, Any]:
    cell = _cell(bench)
    stats = bench.get("stats") or {}
    params = bench.get("params")
    row: dict[str, Any] = dict(run_id=run_id, **cell, status="ok", error="", warmup_iters=None,
                               io_in_timing=False, threads_actual=cell["threads"] or None,
                               runtime_settings=json.dumps(bench.get("options") or {}, sort_keys=True),
                               benchmark=str(bench.get("name") or ""), group=str(bench.get("group") or ""),
                               params=json.dumps(params, sort_keys=True, default=str) if params else "")
    per_call = cell["batch"] or 1  # a plain benchmark: throughput is calls per second
    data = stats.get("data")
    if isinstance(data, list) and data:
        ns = np.round(np.asarray(data, dtype=np.float64) * 1e9).astype(np.int64)
        rel = f"cells/pytest-{index:04d}.npy"
        np.save(run_dir / rel, ns)
        row.update(summarize(ns, per_call), samples_file=rel)
        return row
    try:
        mean_s, med_s = float(stats["mean"]), float(stats["median"])
        row.update(iterations=int(stats.get("rounds", 0)), measured_s=float(stats.get("total", math.nan)),
                   min_ms=float(stats["min"]) * 1e3, mean_ms=mean_s * 1e3, std_ms=float(stats["stddev"]) * 1e3,
                   p50_ms=med_s * 1e3, max_ms=float(stats["max"]) * 1e3,
                   cv=float(stats["stddev"]) / mean_s if mean_s > 0 else math.nan,
                   throughput_sps=per_call / mean_s if mean_s > 0 else math.nan, samples_file="")
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"benchmark {bench.get('fullname', '?')}: stats incomplete ({exc})") from None
    return row


def _manifest(data: dict[str, Any], run_id: str, source: Path) -> dict[str, Any]:
    mi = data.get("machine_info") or {}
    cpu = mi.get("cpu") or {}
    model = str(cpu.get("brand_raw") or mi.get("processor") or "?")
    cores = cpu.get("count") or 0
    key = f"{model}|{cores}|-|{mi.get('system', '')}|{mi.get('machine', '')}"
    ci = data.get("commit_info") or {}
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "created": str(data.get("datetime", "")),
        "status": "complete", "config": {"source": "pytest-benchmark", "file": str(source)},
        "versions": {"python": str(mi.get("python_version", "")),
                     "pytest-benchmark": str(data.get("version", ""))},
        "machine": {"fingerprint": hashlib.sha1(key.encode()).hexdigest()[:16], "host": mi.get("node", ""),
                    "os": f"{mi.get('system', '')} {mi.get('release', '')}".strip(), "arch": mi.get("machine", ""),
                    "cpu_model": model, "cpu_cores": cores, "cpu_flags": [], "memory_gb": None, "gpu": None},
        "git_commit": ci.get("id"), "timings": {},
    }


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
    ci = found[-1][1].get("commit_info") or {}
    newest = (ci.get("id"), ci.get("dirty"))
    return [(f, d) for f, d in found
            if ((d.get("commit_info") or {}).get("id"), (d.get("commit_info") or {}).get("dirty")) == newest]


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

    Re-running it rewrites the directory from the JSON, so it always reflects the files."""
    import pandas as pd

    json_path = Path(json_path)
    found = sessions(json_path)
    name = json_path.stem if json_path.is_file() else json_path.name.lstrip(".") or "benchmarks"
    run_dir = Path(out_dir) if out_dir else json_path.with_name(
        (json_path.stem if json_path.is_file() else json_path.name) + ".twinbench")
    run_id = f"pytest-benchmark-{name}"
    (run_dir / "cells").mkdir(parents=True, exist_ok=True)
    manifest = _manifest(found[-1][1], run_id, json_path)
    prints = {_manifest(d, run_id, f)["machine"]["fingerprint"] for f, d in found}
    if len(prints) > 1:
        raise RunDirError(f"{json_path}: sessions from {len(prints)} different machines; keep one machine's "
                          "sessions per folder")
    manifest["config"]["sessions"] = [str(f) for f, _ in found]
    write_json_atomic(run_dir / "manifest.json", dict(manifest, status="running"))
    per_cell: dict[tuple, list[dict[str, Any]]] = {}
    index = 0
    for _, data in found:
        for b in data["benchmarks"]:
            if isinstance(b, dict):
                row = _row(b, run_id, run_dir, index)
                index += 1
                per_cell.setdefault(tuple(row[k] for k in CELL_FIELDS), []).append(row)
    if not per_cell:
        raise RunDirError(f"{json_path}: no benchmarks in the file")
    results, repeats, rounds = _process_tables(per_cell)
    write_table(pd.DataFrame(results), run_dir, "results")
    write_table(pd.DataFrame(repeats), run_dir, "repeats")
    write_table(pd.DataFrame(rounds), run_dir, "rounds")
    write_table(pd.DataFrame(), run_dir, "parity")
    write_table(pd.DataFrame(), run_dir, "training")
    write_json_atomic(run_dir / "manifest.json", manifest)
    return run_dir
