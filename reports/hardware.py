"""Machine vs machine: the same matrix from several run directories side by side.

Unlike `compare`, different machines are the point here, so nothing is refused for differing
fingerprints or versions; they are shown in the header so a reader sees what changed besides the
hardware. Ratios are p50 / the baseline machine's p50 (below 1 = faster than the baseline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from twinbench.errors import ConfigError, RunDirError
from twinbench.reports.compare import CELL_KEY
from twinbench.reports.format import fnum, fratio, md_table, text

#: Versions worth showing in the machine header (the ones that change speed).
SHOWN_VERSIONS = ("torch", "tensorflow", "onnxruntime", "onnxruntime-gpu", "openvino")


def _machine_row(i: int, run: Any) -> dict[str, Any]:
    m = run.manifest.get("machine") or {}
    gpu = m.get("gpu") or {}
    v = run.manifest.get("versions") or {}
    return {"label": f"m{i}", "run_id": run.run_id, "fingerprint": m.get("fingerprint", ""),
            "cpu_model": m.get("cpu_model", ""), "cpu_cores": m.get("cpu_cores", ""),
            "memory_gb": m.get("memory_gb", ""), "gpu": gpu.get("name", "") if gpu else "",
            "host": m.get("host", ""), "versions": ", ".join(f"{k} {v[k]}" for k in SHOWN_VERSIONS if k in v)}


def hardware_table(run_dirs: Sequence[str | Path], baseline: int = 0) -> Any:
    """One row per cell of the baseline run; per machine `<label> p50 ms` and `<label> vs base`.

    `df.attrs["machines"]` lists each machine's label, run id, fingerprint, CPU, GPU and versions."""
    import pandas as pd

    from twinbench.reports.tables import load_run

    if not run_dirs:
        raise ConfigError("hardware: give at least one run directory")
    if not 0 <= baseline < len(run_dirs):
        raise ConfigError(f"baseline: index {baseline} out of range for {len(run_dirs)} runs")
    runs = [load_run(d) for d in run_dirs]
    tables = []
    for i, run in enumerate(runs):
        df = run.results
        df = df[df["status"].map(text).isin(["ok", "invalid"]) & df["p50_ms"].notna()]
        df = df.assign(**{c: df[c].map(text) for c in CELL_KEY})
        tables.append(df.set_index(CELL_KEY)["p50_ms"].astype(float).groupby(level=CELL_KEY).median()
                      .rename(f"m{i} p50 ms"))
    base = tables[baseline]
    if base.empty:
        raise RunDirError(f"{runs[baseline].path}: no timed cells in the baseline run")
    wide = pd.concat(tables, axis=1, join="outer").loc[base.index]
    others = [t for i, t in enumerate(tables) if i != baseline]
    if others and not any(base.index.isin(t.index).any() for t in others):
        raise RunDirError("no cells in common between the baseline run and the others")
    for i in range(len(runs)):
        wide[f"m{i} vs base"] = wide[f"m{i} p50 ms"] / wide[f"m{baseline} p50 ms"]
    cols = [c for i in range(len(runs)) for c in (f"m{i} p50 ms", f"m{i} vs base")]
    out = wide[cols].reset_index()
    out.attrs["machines"] = [_machine_row(i, r) for i, r in enumerate(runs)]
    out.attrs["baseline"] = baseline
    return out


def hardware_markdown(df: Any) -> str:
    machines = df.attrs.get("machines", [])
    baseline = df.attrs.get("baseline", 0)
    lines = ["# twinbench hardware comparison", "",
             md_table(["machine", "run", "fingerprint", "CPU", "cores", "memory GB", "GPU", "host", "versions"],
                      [[m["label"] + (" (baseline)" if i == baseline else ""), m["run_id"], m["fingerprint"],
                        m["cpu_model"], m["cpu_cores"], m["memory_gb"], m["gpu"] or "-", m["host"], m["versions"]]
                       for i, m in enumerate(machines)]), "",
             "p50 latency per cell; 'vs base' is p50 / the baseline machine's p50 (< 1.00x is faster).", ""]
    labels = [m["label"] for m in machines]
    headers = ["twin", "artifact", "runtime", "device", "batch", "seq_len", "threads"]
    headers += [h for lab in labels for h in (f"{lab} p50 ms", f"{lab} vs base")]
    rows = []
    for _, r in df.iterrows():
        row = [r["twin"], r["artifact"], r["runtime"], r["device"], r["batch"], r["seq_len"], r["threads"]]
        for lab in labels:
            row += [fnum(r[f"{lab} p50 ms"]), fratio(r[f"{lab} vs base"])]
        rows.append(row)
    lines.append(md_table(headers, rows, "lllllll" + "rr" * len(labels)))
    return "\n".join(lines) + "\n"
