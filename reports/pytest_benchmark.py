"""pytest-benchmark JSON (`--benchmark-json`) into a twinbench run directory.

Teams that already gate on pytest-benchmark keep their suite; this turns its output into the
results schema so `twinbench report` renders it and `twinbench compare` can test it. Cell identity
comes from the `twinbench_*` extra_info keys the `twinbench_cell` fixture records
(bench/pytest_plugin.py); any other benchmark becomes twin = its group (or "pytest"), artifact = its
test name, runtime "python". Per-round times (`--benchmark-save-data`) become the samples file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.bench.schema import SCHEMA_VERSION
from twinbench.errors import RunDirError

EXTRA_PREFIX = "twinbench_"
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
    extra = bench.get("extra_info") or {}
    mine = {k[len(EXTRA_PREFIX):]: v for k, v in extra.items() if k.startswith(EXTRA_PREFIX)}
    cell = {"twin": bench.get("group") or "pytest", "artifact": bench.get("name", "?"), "exporter": "",
            "source": "", "precision": "fp32", "runtime": "python", "device": "cpu", "batch": 1, "seq_len": 0,
            "threads": 0}
    cell.update({k: v for k, v in mine.items() if k in CELL_FIELDS})
    for k in ("batch", "seq_len", "threads"):
        try:
            cell[k] = int(cell[k])
        except (TypeError, ValueError):
            raise RunDirError(f"benchmark {bench.get('fullname', '?')}: extra_info {EXTRA_PREFIX}{k} "
                              f"is not an integer: {cell[k]!r}") from None
    return cell


def _row(bench: dict[str, Any], run_id: str, run_dir: Path, index: int) -> dict[str, Any]:
    from twinbench.bench.stats import summarize

    cell = _cell(bench)
    stats = bench.get("stats") or {}
    row: dict[str, Any] = dict(run_id=run_id, **cell, status="ok", error="", warmup_iters=None,
                               io_in_timing=False, threads_actual=cell["threads"] or None,
                               runtime_settings=json.dumps(bench.get("options") or {}, sort_keys=True))
    data = stats.get("data")
    if isinstance(data, list) and data:
        ns = np.round(np.asarray(data, dtype=np.float64) * 1e9).astype(np.int64)
        rel = f"cells/pytest-{index:04d}.npy"
        np.save(run_dir / rel, ns)
        row.update(summarize(ns, cell["batch"]), samples_file=rel)
        return row
    try:
        mean_s, med_s = float(stats["mean"]), float(stats["median"])
        row.update(iterations=int(stats.get("rounds", 0)), measured_s=float(stats.get("total", math.nan)),
                   min_ms=float(stats["min"]) * 1e3, mean_ms=mean_s * 1e3, std_ms=float(stats["stddev"]) * 1e3,
                   p50_ms=med_s * 1e3, max_ms=float(stats["max"]) * 1e3,
                   cv=float(stats["stddev"]) / mean_s if mean_s > 0 else math.nan,
                   throughput_sps=cell["batch"] / mean_s if mean_s > 0 else math.nan, samples_file="")
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


def to_run_dir(json_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write a run directory (default `<json name>.twinbench/` beside the file); returns its path.

    Re-running it rewrites the directory from the JSON, so it always reflects the file."""
    import pandas as pd

    from twinbench.reports.tables import write_table
    from twinbench.rundir import write_json_atomic

    json_path = Path(json_path)
    data = read_json(json_path)
    run_dir = Path(out_dir) if out_dir else json_path.with_name(json_path.stem + ".twinbench")
    run_id = f"pytest-benchmark-{json_path.stem}"
    (run_dir / "cells").mkdir(parents=True, exist_ok=True)
    manifest = _manifest(data, run_id, json_path)
    write_json_atomic(run_dir / "manifest.json", dict(manifest, status="running"))
    rows = [_row(b, run_id, run_dir, i) for i, b in enumerate(data["benchmarks"]) if isinstance(b, dict)]
    if not rows:
        raise RunDirError(f"{json_path}: no benchmarks in the file")
    write_table(pd.DataFrame(rows), run_dir, "results")
    write_table(pd.DataFrame(), run_dir, "parity")
    write_table(pd.DataFrame(), run_dir, "training")
    write_json_atomic(run_dir / "manifest.json", manifest)
    return run_dir
