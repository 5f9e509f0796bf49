"""The load section of a report: Server latency-vs-QPS curves, max QPS under the bound ranked, and
Offline throughput, from the `load` table (bench/load/). Also the lines `twinbench run` prints.

Content only: `with_load` places the section in the report's blocks (after Speed); html.py draws
its two plots from `PLOTS` here. It imports sections.py, never the reverse (no import cycles).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from twinbench.reports.format import fnum, is_missing, text
from twinbench.reports.plots import legend_below
from twinbench.reports.sections import Figure, Heading, Para, table
from twinbench.bench.load.table import headline_rows
from twinbench.core.tables import read_table

#: Latency columns by LoadGen percentile: the bound's percentile is read from these.
PERCENTILE_COLUMNS = {50.0: "p50_ms", 90.0: "p90_ms", 95.0: "p95_ms", 99.0: "p99_ms", 99.9: "p999_ms"}


def _load(run: Any) -> Any:
    df = getattr(run, "load", None)
    return df if df is not None and len(df) else None


def _label(r: Any) -> str:
    return f"{text(r['artifact'])} @ {text(r['runtime'])}"


def bound_latency(r: Any) -> float:
    """The run's latency at the bound's percentile (NaN when LoadGen logged none for it)."""
    pct = r.get("percentile")
    col = PERCENTILE_COLUMNS.get(round(float(pct), 1)) if not is_missing(pct) else None
    return float(r[col]) if col and not is_missing(r.get(col)) else math.nan


def headlines(df: Any, scenario: str) -> list[Any]:
    """One row per cell of `scenario`: its headline run, else its failed / skipped / last row."""
    sub = df[df["scenario"].map(text) == scenario]
    if not len(sub):
        return []
    return [r for _, r in headline_rows(sub).iterrows()]


def _why_none(r: Any) -> str:
    if text(r["status"]) in ("failed", "skipped"):
        return f"{text(r['status'])}: {text(r['error'])}"
    return f"no VALID rate ({text(r['search_stop']) or text(r['loadgen_reason'])})"


def _single_stream_sps(run: Any, r: Any) -> float:
    """The single-stream throughput of the same artifact x runtime x device at the Offline batch."""
    res = getattr(run, "results", None)
    if res is None or not len(res) or "throughput_sps" not in res:
        return math.nan
    m = res[(res["twin"].map(text) == text(r["twin"])) & (res["artifact"].map(text) == text(r["artifact"]))
            & (res["runtime"].map(text) == text(r["runtime"])) & (res["device"].map(text) == text(r["device"]))
            & (res["batch"].map(text) == text(r["batch"])) & res["status"].map(text).isin(["ok", "invalid"])]
    vals = m["throughput_sps"].dropna()
    return float(vals.max()) if len(vals) else math.nan


def _ranked(rows: list[Any], column: str) -> list[tuple[int | str, Any, bool]]:
    """(rank, row, has a headline) best `column` first; rows without a headline come last, ranked '-'."""
    ordered = sorted(rows, key=lambda r: -(float(r[column]) if r["headline"] else -1.0))
    return [(i if r["headline"] else "-", r, bool(r["headline"])) for i, r in enumerate(ordered, 1)]


def load_blocks(run: Any) -> list[Any]:
    df = _load(run)
    if df is None:
        return []
    blocks: list[Any] = [Heading(2, "Throughput under load (MLPerf LoadGen)"), Para(
        "Server: Poisson arrivals at a target QPS; the max QPS is the highest rate LoadGen judged VALID "
        "(latency percentile under the bound, minimum duration and queries met, early stopping met), found by "
        "bisection over LoadGen runs. Offline: every sample at once, samples/s at the best concurrency x max "
        "batch tried. Runs are seconds long, not MLPerf's 600 s (docs/load.md).")]
    for twin in sorted({text(t) for t in df["twin"]}):
        sub = df[df["twin"].map(text) == twin]
        blocks.append(Heading(3, twin))
        server = headlines(sub, "server")
        if server:
            rows = []
            for rank, r, ok in _ranked(server, "target_qps"):
                runs = sub[(sub["scenario"].map(text) == "server") & (sub["artifact"].map(text) == text(r["artifact"]))
                           & (sub["runtime"].map(text) == text(r["runtime"])) & sub["loadgen_result"].map(text).ne("")]
                rows.append((rank, text(r["artifact"]), text(r["runtime"]), text(r["device"]),
                             text(r["streams"]), fnum(r["target_qps"]) if ok else "-",
                             fnum(bound_latency(r)) if ok else "-", fnum(r["latency_bound_ms"]),
                             fnum(r["percentile"]), len(runs), text(r["search_stop"]) if ok else _why_none(r)))
            blocks += [Heading(4, f"{twin}: Server, max QPS under the latency bound"),
                       table(["#", "artifact", "runtime", "device", "streams", "max QPS", "latency at pct ms",
                              "bound ms", "pct", "LoadGen runs", "search"], rows, "rllllrrrrrl"),
                       Figure("latency_vs_qps", twin)]
        offline = headlines(sub, "offline")
        if offline:
            rows = []
            for rank, r, ok in _ranked(offline, "achieved_qps"):
                single = _single_stream_sps(run, r) if ok else math.nan
                rows.append((rank, text(r["artifact"]), text(r["runtime"]), text(r["device"]),
                             fnum(r["achieved_qps"]) if ok else "-", text(r["streams"]) if ok else "-",
                             text(r["batch"]) if ok else "-", fnum(single),
                             fnum(float(r["achieved_qps"]) / single) + "x" if ok and single > 0 else "-",
                             "" if ok else _why_none(r)))
            blocks += [Heading(4, f"{twin}: Offline throughput"),
                       table(["#", "artifact", "runtime", "device", "samples/s", "streams", "max batch",
                              "single-stream seq/s", "vs single-stream", "note"], rows, "rlllrrrrrl"),
                       Figure("offline_throughput", twin)]
    return blocks


def with_load(blocks: list[Any], run: Any) -> list[Any]:
    """The report's blocks with the load section inserted before Training (or at the end)."""
    extra = load_blocks(run)
    if not extra:
        return blocks
    at = next((i for i, b in enumerate(blocks) if isinstance(b, Heading) and b.level == 2 and b.text == "Training"),
              len(blocks))
    return blocks[:at] + extra + blocks[at:]


# plots ----------------------------------------------------------------------------------------
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def latency_vs_qps(run: Any, twin: str) -> Any:
    """Per runtime: latency at the bound's percentile against the arrival rate, every Server run;
    filled markers VALID, hollow INVALID, the bound dashed. The knee is where the curve leaves the floor."""
    df = _load(run)
    if df is None:
        return None
    df = df[(df["twin"].map(text) == twin) & (df["scenario"].map(text) == "server")
            & df["loadgen_result"].map(text).ne("") & df["target_qps"].notna()]
    if not len(df):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 4.6), layout="constrained")
    for i, (label, g) in enumerate(sorted(df.groupby(df.apply(_label, axis=1)), key=lambda kv: kv[0])):
        g = g.sort_values("target_qps")
        y = g.apply(bound_latency, axis=1)
        color = f"C{i % 10}"
        ax.plot(g["target_qps"].astype(float), y, color=color, alpha=0.6, label=label)
        valid = g["valid"].astype(bool).to_numpy()
        ax.scatter(g["target_qps"].astype(float)[valid], y[valid], color=color, zorder=3)
        ax.scatter(g["target_qps"].astype(float)[~valid], y[~valid], facecolors="none", edgecolors=color, zorder=3)
    bounds = sorted({float(b) for b in df["latency_bound_ms"].dropna()})
    for b in bounds:
        ax.axhline(b, color="0.3", linestyle="--", linewidth=1)
    pct = sorted({float(p) for p in df["percentile"].dropna()})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("target QPS (Poisson arrivals)")
    ax.set_ylabel(f"p{'/'.join(f'{p:g}' for p in pct)} latency (ms)")
    ax.set_title(f"{twin}: Server latency vs load (filled: VALID, hollow: INVALID; dashed: bound)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig


def offline_throughput(run: Any, twin: str) -> Any:
    """Grouped bars: Offline samples/s per runtime, one bar per concurrency x max batch (VALID runs)."""
    df = _load(run)
    if df is None:
        return None
    df = df[(df["twin"].map(text) == twin) & (df["scenario"].map(text) == "offline") & df["valid"].astype(bool)]
    if not len(df):
        return None
    df = df.assign(label=df.apply(_label, axis=1),
                   config=df["streams"].map(lambda s: f"x{text(s)}") + " b" + df["batch"].map(text))
    best = df.groupby(["label", "config"])["achieved_qps"].max()
    labels = sorted({lab for lab, _ in best.index})
    configs = sorted({c for _, c in best.index}, key=lambda c: (int(c.split()[0][1:]), int(c.split()[1][1:])))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(labels) * max(1, len(configs)) / 2 + 3), 4.4),
                           layout="constrained")
    width = 0.8 / max(1, len(configs))
    for j, c in enumerate(configs):
        xs = [i + j * width for i, lab in enumerate(labels) if (lab, c) in best.index]
        ys = [best[(lab, c)] for lab in labels if (lab, c) in best.index]
        ax.bar(xs, ys, width=width, label=f"streams {c.split()[0][1:]}, max batch {c.split()[1][1:]}")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("samples / s")
    ax.set_title(f"{twin}: Offline throughput (LoadGen, VALID runs)", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    legend_below(fig, *ax.get_legend_handles_labels())
    return fig


PLOTS = {"latency_vs_qps": latency_vs_qps, "offline_throughput": offline_throughput}


# the lines `twinbench run` prints ---------------------------------------------------------------
def summary_lines(run_dir: str | Path) -> list[str]:
    """One line per Server / Offline cell: max QPS under the bound, Offline samples/s (or why not)."""
    try:
        df = read_table(run_dir, "load")
    except Exception:  # the summary is a courtesy; the report and the table are the record
        return []
    if not len(df):
        return []
    lines = []
    for scenario in ("server", "offline"):
        for r in headlines(df, scenario):
            who = f"{scenario:7s} {text(r['twin'])} {_label(r)}"
            if not r["headline"]:
                lines.append(f"{who}: {_why_none(r)}")
            elif scenario == "server":
                lines.append(f"{who}: max {fnum(r['target_qps'])} QPS with p{fnum(r['percentile'])} "
                             f"{fnum(bound_latency(r))} ms <= {fnum(r['latency_bound_ms'])} ms "
                             f"({text(r['streams'])} stream(s); {text(r['search_stop'])})")
            else:
                lines.append(f"{who}: {fnum(r['achieved_qps'])} samples/s ({text(r['streams'])} stream(s), "
                             f"max batch {text(r['batch'])})")
    return lines
