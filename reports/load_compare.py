"""Load rows in `compare` and `hardware`: a cell's headline figure (Server max QPS under the bound,
Offline samples/s) run against run, machine against machine.

A load figure is one LoadGen search or sweep, not a set of worker processes, so there is no test
behind it: a change counts only beyond `LOAD_MIN_EFFECT` (or the compare's min effect if larger),
which is wider than the search's default tolerance and the spread seen between back-to-back runs
on a shared machine (docs/load.md). Higher is better here: ratio = candidate / baseline figure.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from twinbench.reports.format import fnum, fratio, md_table, text
from twinbench.bench.load.table import headline_rows

#: Identity of a load cell across runs (batch is not part of it: Offline picks its best batch).
LOAD_KEY = ["twin", "artifact", "exporter", "source", "precision", "runtime", "device", "seq_len", "threads",
            "scenario"]
#: The smallest relative change of a load figure that counts as a regression or an improvement.
LOAD_MIN_EFFECT = 0.15
UNITS = {"server": "max QPS", "offline": "samples/s"}


def figure(r: Any) -> float:
    """The headline figure of a load cell's headline row; NaN when the cell has none."""
    if not bool(r.get("headline")):
        return math.nan
    v = r.get("target_qps") if text(r.get("scenario")) == "server" else r.get("achieved_qps")
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _heads(run: Any) -> dict[tuple[str, ...], Any]:
    df = getattr(run, "load", None)
    if df is None or not len(df):
        return {}
    return {tuple(text(r[c]) for c in LOAD_KEY): r for _, r in headline_rows(df).iterrows()}


def _why(r: Any) -> str:
    status = text(r.get("status"))
    if status in ("failed", "skipped"):
        return f"{status}: {text(r.get('error'))}"
    return f"no VALID rate ({text(r.get('search_stop')) or text(r.get('loadgen_reason'))})"


def load_compare_rows(base: Any, cand: Any, *, min_effect: float) -> list[dict[str, Any]]:
    """Compare rows (kind "load") for every load cell present in both runs."""
    hb, hc = _heads(base), _heads(cand)
    effect = max(min_effect, LOAD_MIN_EFFECT)
    out = []
    for key in sorted(set(hb) & set(hc)):
        rb, rc = hb[key], hc[key]
        vb, vc = figure(rb), figure(rc)
        row = dict(zip(LOAD_KEY, key), kind="load", batch=text(rc.get("batch")), base_value=vb, cand_value=vc,
                   note="")
        if math.isnan(vb) and math.isnan(vc):
            continue
        if math.isnan(vc):
            out.append(dict(row, verdict="REGRESSION", note=f"candidate {_why(rc)}"))
            continue
        if math.isnan(vb):
            out.append(dict(row, verdict="IMPROVEMENT", note=f"baseline {_why(rb)}"))
            continue
        ratio = vc / vb if vb > 0 else math.nan
        verdict = ("REGRESSION" if ratio < 1.0 / (1.0 + effect) else "IMPROVEMENT" if ratio > 1.0 + effect
                   else "SAME")
        out.append(dict(row, verdict=verdict, ratio=ratio,
                        note=f"one LoadGen {'search' if key[-1] == 'server' else 'sweep'} per run; "
                             f"changes under {effect:.0%} count as SAME"))
    return out


def load_compare_markdown(df: Any) -> list[str]:
    """The `## Load` section of `twinbench compare` (nothing when neither run has load cells)."""
    load = df[df["kind"] == "load"] if "kind" in df else df.iloc[0:0]
    if not len(load):
        return []
    rows = [(r.verdict, r.twin, r.artifact, r.runtime, r.device, r.scenario, UNITS.get(text(r.scenario), ""),
             fnum(r.base_value), fnum(r.cand_value), fratio(r.ratio), text(r.note)) for r in load.itertuples()]
    return ["## Load (MLPerf LoadGen)", "", "ratio = candidate / baseline figure (higher is better).", "",
            md_table(["verdict", "twin", "artifact", "runtime", "device", "scenario", "figure", "base", "cand",
                      "ratio", "note"], rows, "llllllrrrrl"), ""]


def load_hardware_table(runs: Sequence[Any], baseline: int) -> Any:
    """One row per load cell of the baseline run; per machine its figure and `vs base` (figure /
    the baseline machine's; above 1 is faster). None when the baseline run has no load cells."""
    import pandas as pd

    heads = [_heads(run) for run in runs]
    if not heads[baseline]:
        return None
    rows = []
    for key, rb in sorted(heads[baseline].items()):
        row: dict[str, Any] = dict(zip(LOAD_KEY, key))
        base_value = figure(rb)
        for i, h in enumerate(heads):
            r = h.get(key)
            v = figure(r) if r is not None else math.nan
            row[f"m{i} figure"] = v
            row[f"m{i} vs base"] = v / base_value if base_value > 0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def load_hardware_markdown(load: Any, labels: Sequence[str]) -> list[str]:
    if load is None or not len(load):
        return []
    headers = ["twin", "artifact", "runtime", "device", "scenario", "figure"]
    headers += [h for lab in labels for h in (lab, f"{lab} vs base")]
    rows = []
    for _, r in load.iterrows():
        row = [r["twin"], r["artifact"], r["runtime"], r["device"], r["scenario"], UNITS.get(r["scenario"], "")]
        for i, _lab in enumerate(labels):
            row += [fnum(r[f"m{i} figure"]), fratio(r[f"m{i} vs base"])]
        rows.append(row)
    return ["", "## Load (MLPerf LoadGen)", "",
            "Server max QPS under the latency bound and Offline samples/s; 'vs base' is the figure / the baseline "
            "machine's (> 1.00x is faster).", "", md_table(headers, rows, "llllll" + "rr" * len(labels))]
