"""A run's figures in the formats CI dashboards read, as pure functions of a loaded run directory.

- `bencher`: Bencher's metric format (BMF): `{benchmark: {measure: {value, lower_value, upper_value}}}`,
  with Bencher's built-in measures `latency` (nanoseconds) and `throughput` (operations per second).
- `gab` / `gab-throughput`: github-action-benchmark's custom-tool JSON, a list of
  `{name, unit, value, range, extra}`: `gab` for `tool: customSmallerIsBetter` (latency, ms),
  `gab-throughput` for `tool: customBiggerIsBetter` (sequences per second). The action takes one tool
  per step, so the two directions are two files.
- `pytest-benchmark`: pytest-benchmark's own `--benchmark-json` layout (machine_info, commit_info,
  benchmarks with stats in seconds, datetime, version), with the cell identity in `extra_info` as the
  `twinbench_cell` fixture records it, so twinbench reads the file back as the same cells.

What is exported: every `ok` cell of `results` except the calibration cell (the machine's noise
floor); `invalid`, `failed` and `skipped` cells have no figure to trust and are left out. Every
figure is the headline (`p50_ms`: the median over worker processes; docs/measurement.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from twinbench.bench.calibration import CALIBRATION_TWIN
from twinbench.core.atomic import write_text
from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.format import is_missing, text
from twinbench.reports.pytest_benchmark import CELL_FIELDS, as_run_dir
from twinbench.reports.tables import RunData, load_run

#: The pytest-benchmark release whose JSON layout `pytest_benchmark` writes (its "version" field).
PYTEST_BENCHMARK_LAYOUT = "5.1.0"


def exported_rows(run: RunData) -> list[dict[str, Any]]:
    """The results rows a dashboard gets (see the module docstring), in table order."""
    df = run.results
    out = []
    for row in df.to_dict("records"):
        if text(row.get("status")) != "ok" or text(row.get("twin")) == CALIBRATION_TWIN:
            continue
        if not _finite(row.get("p50_ms")) or float(row["p50_ms"]) <= 0:
            continue
        out.append(row)
    return out


def _finite(v: Any) -> bool:
    try:
        return not is_missing(v) and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _num(v: Any) -> float | None:
    return float(v) if _finite(v) else None


def _seconds(ms: Any) -> float | None:
    return float(ms) / 1e3 if _finite(ms) else None


def benchmark_name(row: dict[str, Any]) -> str:
    """One stable name per cell across runs: `twin/artifact/runtime/device/b<batch>/s<seq>/t<threads>`
    (plus `@<machine>` on a multi-machine run); a benchmark read from pytest-benchmark keeps its own
    name, prefixed by its group."""
    if text(row.get("benchmark")):
        group = text(row.get("group"))
        return f"{group}::{row['benchmark']}" if group else text(row["benchmark"])
    parts = [text(row.get(k)) for k in ("twin", "artifact", "runtime", "device")]
    parts += [f"b{text(row.get('batch'))}", f"s{text(row.get('seq_len'))}", f"t{text(row.get('threads'))}"]
    machine = text(row.get("machine"))
    return "/".join(parts) + (f"@{machine}" if machine else "")


def _throughput_unit(row: dict[str, Any]) -> str:
    return "calls/s" if text(row.get("benchmark")) and is_missing(row.get("batch")) else "sequences/s"


def bencher(run: RunData) -> dict[str, Any]:
    """Bencher metric format: latency in ns (value = p50, lower = min, upper = p99 of the cell's
    timed calls) and throughput in operations (sequences, or calls) per second."""
    out: dict[str, Any] = {}
    for row in exported_rows(run):
        p50 = float(row["p50_ms"]) * 1e6
        latency: dict[str, float] = {"value": p50}
        low, high = _num(row.get("min_ms")), _num(row.get("p99_ms"))
        if low is not None:
            latency["lower_value"] = min(low * 1e6, p50)
        if high is not None:
            latency["upper_value"] = max(high * 1e6, p50)
        measures: dict[str, Any] = {"latency": latency}
        tps = _num(row.get("throughput_sps"))
        if tps is not None:
            measures["throughput"] = {"value": tps}
        out[benchmark_name(row)] = measures
    return out


def _extra(row: dict[str, Any], run: RunData) -> str:
    lines = [f"run: {run.run_id}", f"headline: {text(row.get('headline')) or 'p50'}"]
    for label, key, fmt in (("processes", "repeats", "{:.0f}"), ("between-process spread", "between_spread", "{:.1%}"),
                            ("MDE", "mde", "{:.1%}"), ("p99 ms", "p99_ms", "{:.4g}")):
        v = _num(row.get(key))
        if v is not None:
            lines.append(f"{label}: {fmt.format(v)}")
    return "\n".join(lines)


def gab(run: RunData) -> list[dict[str, Any]]:
    """github-action-benchmark, `tool: customSmallerIsBetter`: p50 latency in ms; `range` is the
    between-process spread in ms (robust standard deviation of the processes' figures)."""
    out = []
    for row in exported_rows(run):
        p50 = float(row["p50_ms"])
        entry: dict[str, Any] = {"name": benchmark_name(row), "unit": "ms", "value": p50}
        spread = _num(row.get("between_spread"))
        if spread is not None:
            entry["range"] = f"± {spread * p50:.4g}"
        entry["extra"] = _extra(row, run)
        out.append(entry)
    return out


def gab_throughput(run: RunData) -> list[dict[str, Any]]:
    """github-action-benchmark, `tool: customBiggerIsBetter`: throughput at the headline p50."""
    return [{"name": benchmark_name(row), "unit": _throughput_unit(row), "value": float(row["throughput_sps"]),
             "extra": _extra(row, run)}
            for row in exported_rows(run) if _finite(row.get("throughput_sps"))]


def _cell_samples_s(run: RunData, row: dict[str, Any]) -> np.ndarray:
    """Every timed call of the cell, in seconds: the samples of each of its worker processes."""
    reps = run.repeats
    parts = []
    if reps is not None and len(reps):
        mask = np.ones(len(reps), dtype=bool)
        for k in ("twin", "artifact", "runtime", "device", "batch", "seq_len", "threads", "machine"):
            if k in reps:
                mask &= reps[k].map(text).to_numpy() == text(row.get(k))
        parts = [run.samples(r) for r in reps[mask].to_dict("records")]
    parts = [p for p in parts if p.size] or [run.samples(row)]
    ns = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return ns.astype(np.float64) / 1e9


def _stats(run: RunData, row: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's `stats` (seconds): min/max/mean/stddev/median/total/rounds are the row's
    (median = the headline p50); quartiles and outliers (pytest-benchmark's definitions: 1.5 IQR
    fences, one standard deviation) come from all the cell's recorded calls, quartiles by numpy's
    linear interpolation. RunDirError where the run kept no calls (a pytest-benchmark file saved
    without --benchmark-save-data)."""
    s: dict[str, Any] = {name: _seconds(row.get(col)) for name, col in
                         (("min", "min_ms"), ("max", "max_ms"), ("mean", "mean_ms"), ("stddev", "std_ms"))}
    s["median"] = float(row["p50_ms"]) / 1e3
    s["rounds"] = int(row["iterations"]) if _finite(row.get("iterations")) else 0
    s["iterations"] = 1
    s["total"] = _num(row.get("measured_s"))
    data = _cell_samples_s(run, row)
    if not data.size:
        raise RunDirError(f"{benchmark_name(row)}: the run kept no per-call samples, and pytest-benchmark's stats "
                          "(quartiles, outliers) need them; for a file saved without --benchmark-save-data use "
                          "that file itself")
    q1, q3 = (float(v) for v in np.percentile(data, [25, 75]))
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = data[(data >= lo) & (data <= hi)]
    mean, std = float(data.mean()), float(data.std(ddof=1)) if data.size > 1 else 0.0
    iqr_out = int(((data < lo) | (data > hi)).sum())
    std_out = int(((data < mean - std) | (data > mean + std)).sum())
    s.update(q1=q1, q3=q3, iqr=iqr, iqr_outliers=iqr_out, stddev_outliers=std_out, outliers=f"{std_out};{iqr_out}",
             ld15iqr=float(inside.min()) if inside.size else q1, hd15iqr=float(inside.max()) if inside.size else q3)
    for key, value in (("min", float(data.min())), ("max", float(data.max())), ("mean", mean), ("stddev", std),
                       ("total", float(data.sum()))):
        if s[key] is None:  # a row without the figure: the recorded calls give it
            s[key] = value
    s["ops"] = 1.0 / s["mean"] if s["mean"] else 0.0
    if not s["rounds"]:
        s["rounds"] = int(data.size)
    return s


def _bench_entry(run: RunData, row: dict[str, Any]) -> dict[str, Any]:
    name = benchmark_name(row)
    extra = {f"twinbench_{k}": (None if is_missing(row.get(k)) else
                                int(row[k]) if k in ("batch", "seq_len", "threads") else text(row.get(k)))
             for k in CELL_FIELDS}
    extra.update(twinbench_run_id=run.run_id, twinbench_headline=text(row.get("headline")),
                 twinbench_repeats=int(row["repeats"]) if _finite(row.get("repeats")) else None,
                 twinbench_machine=text(row.get("machine")))
    if text(row.get("benchmark")):  # read from pytest-benchmark: its own name, group and params back
        params = json.loads(row["params"]) if text(row.get("params")) else None
        if not text(row.get("runtime")):  # a plain benchmark: no twinbench cell to carry
            extra = {"twinbench_run_id": run.run_id}
        return {"group": text(row.get("group")) or None, "name": text(row["benchmark"]),
                "fullname": text(row.get("artifact")) if not text(row.get("runtime")) else text(row["benchmark"]),
                "params": params, "param": None, "extra_info": extra, "options": {},
                "stats": _stats(run, row)}
    params = {k: int(row[k]) for k in ("batch", "seq_len", "threads") if _finite(row.get(k))}
    return {"group": text(row.get("twin")), "name": name, "fullname": f"twinbench::{name}", "params": params,
            "param": "-".join(str(v) for v in params.values()), "extra_info": extra, "options": {},
            "stats": _stats(run, row)}


def pytest_benchmark(run: RunData) -> dict[str, Any]:
    """pytest-benchmark's JSON (see the module docstring); `twinbench compare`/`report` read it back."""
    m = run.manifest
    mach = m.machine
    system, _, release = mach.os.partition(" ")
    return {
        "machine_info": {"node": mach.host, "processor": mach.arch, "machine": mach.arch,
                         "python_version": text(m.versions.get("python")), "system": system, "release": release,
                         "cpu": {"brand_raw": mach.cpu_model, "count": mach.cpu_cores or 0}},
        "commit_info": {"id": m.git_commit, "dirty": m.git_dirty},
        "benchmarks": [_bench_entry(run, row) for row in exported_rows(run)],
        "datetime": m.created,
        "version": PYTEST_BENCHMARK_LAYOUT,
    }


FORMATS: dict[str, Callable[[RunData], Any]] = {
    "bencher": bencher,
    "gab": gab,
    "gab-throughput": gab_throughput,
    "pytest-benchmark": pytest_benchmark,
}


def export_text(run: RunData, fmt: str) -> str:
    """The export as strict JSON text (no NaN: dashboards' parsers refuse it). ConfigError names the
    formats for an unknown one."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    return json.dumps(FORMATS[fmt](run), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def export_run(path: str | Path, fmt: str, out: str | Path | None = None) -> str:
    """`twinbench export`: the export of a run directory (or pytest-benchmark JSON / folder) as
    text, also written atomically to `out` when given. RunDirError when no cell is `ok`."""
    if fmt not in FORMATS:  # before reading anything: a typo is the cheapest error
        raise ConfigError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    run = load_run(as_run_dir(path))
    if not exported_rows(run):
        statuses = ", ".join(f"{n} {s}" for s, n in run.results["status"].map(text).value_counts().items())
        raise RunDirError(f"{run.path}: no ok cell to export ({statuses or 'no cells'})")
    body = export_text(run, fmt)
    if out is not None:
        write_text(Path(out), body)
    return body
