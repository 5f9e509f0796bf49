"""Machine vs machine: the same matrix from several run directories side by side.

Unlike `compare`, different machines are the point here, so nothing is refused for differing
fingerprints or versions; they are shown in the header so a reader sees what changed besides the
hardware. Ratios are p50 / the baseline machine's p50 (below 1 = faster than the baseline).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from twinbench.core.manifest import MachineInfo, Manifest
from twinbench.core.typed import build

from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.compare import CELL_KEY
from twinbench.reports.format import fnum, fratio, md_table, text
from twinbench.reports.load_compare import load_hardware_markdown, load_hardware_table
from twinbench.reports.tables import load_run

#: Versions worth showing in the machine header (the ones that change speed).
SHOWN_VERSIONS = ("torch", "tensorflow", "onnxruntime", "onnxruntime-gpu", "openvino")


def _machine_row(i: int, run: Any) -> dict[str, Any]:
    m = run.manifest.machine
    v = run.manifest.versions
    return {"label": f"m{i}", "run_id": run.run_id, "fingerprint": m.fingerprint, "cpu_model": m.cpu_model,
            "cpu_cores": "" if m.cpu_cores is None else m.cpu_cores,
            "memory_gb": "" if m.memory_gb is None else m.memory_gb, "gpu": m.gpu.name if m.gpu else "",
            "host": m.host, "versions": ", ".join(f"{k} {v[k]}" for k in SHOWN_VERSIONS if k in v)}


def machine_tags(run: Any) -> list[str]:
    """The kinds of machine (`machine` column) a run's cells ran on; empty for a one-machine run."""
    df = run.results
    return sorted({text(t) for t in df["machine"] if text(t)}) if "machine" in df else []


def _node_manifest(run: Any, tag: str, part: Any) -> Manifest:
    """The run's manifest as seen from one kind of machine: the machine info and library versions
    of the node that measured its first cell (rows record them), the run id tagged."""
    import json

    manifest = dataclasses.replace(run.manifest, run_id=f"{run.run_id} [{tag}]")
    for raw in part["machine_info"] if "machine_info" in part else ():
        try:
            info = json.loads(text(raw)) if text(raw) else None
            machine = build(MachineInfo, info, "machine_info", extra="ignore") if isinstance(info, dict) else None
        except (ValueError, ConfigError):
            machine = None
        if machine is not None:
            return dataclasses.replace(manifest, machine=machine, versions=machine.versions or manifest.versions)
    return manifest


def split_by_machine(run: Any) -> list[Any]:
    """One RunData per kind of machine of a run (a Ray run with `machines`), else `[run]`: so one
    invocation on several kinds compares like several runs from several machines."""
    tags = machine_tags(run)
    if not tags:
        return [run]
    parts = []
    for tag in tags:
        part = run.results[run.results["machine"].map(text) == tag].reset_index(drop=True)
        parts.append(dataclasses.replace(run, results=part, manifest=_node_manifest(run, tag, part), _cache={}))
    return parts


def machines_tables(run: Any) -> list[Any]:
    """For a run measured on several kinds of machine: a sentence, the machines' table and the
    cells side by side, as `str` or `(headers, rows, align)` items (reports/sections.py renders
    them); empty otherwise."""
    if len(machine_tags(run)) < 2:
        return []
    df = hardware_table([run.path])
    machines = df.attrs["machines"]
    head = (["machine", "tag", "CPU", "cores", "GPU", "host", "versions"],
            [[m["label"] + (" (baseline)" if i == 0 else ""), m["run_id"].rsplit(" [", 1)[-1].rstrip("]"),
              m["cpu_model"], m["cpu_cores"], m["gpu"] or "-", m["host"], m["versions"]]
             for i, m in enumerate(machines)], "lllrlll")
    labels = [m["label"] for m in machines]
    headers = ["twin", "artifact", "runtime", "batch", "seq_len", "threads"]
    headers += [h for lab in labels for h in (f"{lab} p50 ms", f"{lab} vs {labels[0]}")]
    rows = []
    for _, r in df.iterrows():
        row = [r["twin"], r["artifact"], r["runtime"], r["batch"], r["seq_len"], r["threads"]]
        rows += [row + [c for lab in labels for c in (fnum(r[f"{lab} p50 ms"]), fratio(r[f"{lab} vs base"]))]]
    return [f"The same cells on {len(labels)} kinds of machine in this one run (`machines`); ratios are p50 / "
            f"{labels[0]}'s p50 (< 1.00x is faster). `twinbench hardware` shows the same.", head,
            (headers, rows, "llllll" + "rr" * len(labels))]


def hardware_table(run_dirs: Sequence[str | Path], baseline: int = 0) -> Any:
    """One row per cell of the baseline run; per machine `<label> p50 ms` and `<label> vs base`.

    `df.attrs["machines"]` lists each machine's label, run id, fingerprint, CPU, GPU and versions."""
    import pandas as pd

    if not run_dirs:
        raise ConfigError("hardware: give at least one run directory")
    runs = [part for d in run_dirs for part in split_by_machine(load_run(d))]  # a Ray run: one per machine kind
    if not 0 <= baseline < len(runs):
        raise ConfigError(f"baseline: index {baseline} out of range for {len(runs)} runs")
    tables = []
    for i, run in enumerate(runs):
        df = run.results
        df = df[df["status"].map(text).isin(["ok", "invalid"]) & df["p50_ms"].notna()]
        df = df.assign(**{c: df[c].map(text) for c in CELL_KEY})
        tables.append(df.set_index(CELL_KEY)["p50_ms"].astype(float).groupby(level=CELL_KEY).median()
                      .rename(f"m{i} p50 ms"))
    base = tables[baseline]
    load = load_hardware_table(runs, baseline)  # Server / Offline figures (reports/load_compare.py)
    if base.empty and load is None:
        raise RunDirError(f"{runs[baseline].path}: no timed cells in the baseline run")
    wide = pd.concat(tables, axis=1, join="outer").loc[base.index]
    others = [t for i, t in enumerate(tables) if i != baseline]
    if others and not any(base.index.isin(t.index).any() for t in others) and load is None:
        raise RunDirError("no cells in common between the baseline run and the others")
    for i in range(len(runs)):
        wide[f"m{i} vs base"] = wide[f"m{i} p50 ms"] / wide[f"m{baseline} p50 ms"]
    cols = [c for i in range(len(runs)) for c in (f"m{i} p50 ms", f"m{i} vs base")]
    out = wide[cols].reset_index()
    out.attrs["machines"] = [_machine_row(i, r) for i, r in enumerate(runs)]
    out.attrs["baseline"] = baseline
    out.attrs["load"] = load
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
    lines += load_hardware_markdown(df.attrs.get("load"), labels)
    return "\n".join(lines) + "\n"
