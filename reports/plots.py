"""Plots of one run, drawn with matplotlib's Agg backend (no display, no network).

`PLOTS` maps a figure kind (the `Figure` blocks of sections.py) to a function `(run, twin) -> Figure
| None`; None means "nothing to draw" and the HTML report then says so instead of showing a blank.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any, Callable

from twinbench.reports.format import text
from twinbench.reports.sections import worst_verdict

#: Verdict -> mark drawn on the parity heat map.
MARKS = {"PASS": "ok", "FAIL": "FAIL", "ERROR": "ERR", "SKIP": "skip"}
#: How an invalid cell (status "invalid": its figure is not reliable) is drawn in every timing plot.
INVALID_COLOR = "#d62728"
INVALID_LABEL = "invalid cell (not reliable)"
#: Legend text size (points): readable when the page is shown at a normal window width.
LEGEND_SIZE = 9


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _timed(run: Any, twin: str) -> Any:
    df = run.results
    ok = df["status"].map(text).isin(["ok", "invalid"]) & df["p50_ms"].notna() & (df["twin"].map(text) == twin)
    df = df[ok].copy()
    df["label"] = df["artifact"].map(text) + " @ " + df["runtime"].map(text) + " " + df["device"].map(text)
    df["invalid"] = df["status"].map(text) == "invalid"
    return df


def legend_below(fig: Any, handles: list[Any], labels: list[str]) -> None:
    """One legend for the whole figure, under the plots, in as many columns as fit: long labels
    ("model.onnx @ ort-cpu cpu") stay whole instead of squeezing the plot or running off it."""
    if not handles:
        return
    longest = max(len(label) for label in labels)
    width_in = fig.get_figwidth()
    ncol = max(1, min(len(labels), int(width_in * 72 / (LEGEND_SIZE * 0.6 * longest + 40))))
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=LEGEND_SIZE, frameon=False)


def _invalid_handle() -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], marker="x", color=INVALID_COLOR, linestyle="none", markersize=9, markeredgewidth=2)


def _lines(run: Any, twin: str, x: str, panel: str) -> Any:
    df = _timed(run, twin)
    if not len(df) or df[x].nunique() < 1:
        return None
    plt = _plt()
    panels = sorted(df[panel].unique())
    n_labels = df["label"].nunique()
    fig, axes = plt.subplots(1, len(panels), figsize=(max(7.0, 4.2 * len(panels)), 3.4 + 0.25 * n_labels),
                             squeeze=False, layout="constrained")
    handles: dict[str, Any] = {}
    for ax, pv in zip(axes[0], panels):
        sub = df[df[panel] == pv]
        for label, g in sub.groupby("label", sort=True):
            med = g.groupby(x)["p50_ms"].median().sort_index()
            (line,) = ax.plot(med.index, med.values, marker="o", label=label)
            handles.setdefault(label, line)
            bad = g[g["invalid"]].groupby(x)["p50_ms"].median()
            if len(bad):  # the median drawn above, crossed out where any of its cells is invalid
                ax.plot(bad.index, med.loc[bad.index].values, marker="x", color=INVALID_COLOR, linestyle="none",
                        markersize=9, markeredgewidth=2, zorder=5)
                handles.setdefault(INVALID_LABEL, _invalid_handle())
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(f"{twin}: {panel} {pv}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    order = sorted(handles, key=lambda k: (k == INVALID_LABEL, k))
    legend_below(fig, [handles[k] for k in order], order)
    return fig


def latency_vs_batch(run: Any, twin: str) -> Any:
    return _lines(run, twin, "batch", "seq_len")


def latency_vs_seq(run: Any, twin: str) -> Any:
    return _lines(run, twin, "seq_len", "batch")


def throughput(run: Any, twin: str) -> Any:
    """Grouped bars: sequences/s per batch size at the longest sequence length."""
    df = _timed(run, twin)
    if not len(df):
        return None
    df = df[df["seq_len"] == df["seq_len"].max()]
    from matplotlib.patches import Patch

    plt = _plt()
    labels = sorted(df["label"].unique())
    batches = sorted(df["batch"].unique())
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(batches) * max(1, len(labels)) / 3 + 3),
                                    3.6 + 0.25 * len(labels)), layout="constrained")
    width = 0.8 / max(1, len(labels))
    handles, names = [], []
    any_invalid = False
    for i, label in enumerate(labels):
        sub = df[df["label"] == label]
        g = sub.groupby("batch")["throughput_sps"].median()
        bad = sub.groupby("batch")["invalid"].any()
        xs = [batches.index(b) + i * width for b in g.index]
        bars = ax.bar(xs, g.values, width=width, label=label)
        handles.append(Patch(facecolor=bars.patches[0].get_facecolor()))  # the plain colour, hatched or not
        names.append(label)
        for bar, b in zip(bars, g.index):
            if bad.get(b, False):  # invalid: hatched, red edge
                bar.set_hatch("xx")
                bar.set_edgecolor(INVALID_COLOR)
                bar.set_alpha(0.55)
                any_invalid = True
    if any_invalid:
        handles.append(Patch(facecolor="white", edgecolor=INVALID_COLOR, hatch="xx"))
        names.append(INVALID_LABEL)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(batches))], [str(b) for b in batches])
    ax.set_xlabel("batch")
    ax.set_ylabel("sequences / s")
    ax.set_title(f"{twin}: throughput at seq_len {int(df['seq_len'].max())}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    legend_below(fig, handles, names)
    return fig


def _horizontal() -> dict[str, Any]:
    """Horizontal boxes: `orientation=` from matplotlib 3.10 (where `vert=` is deprecated), else `vert=False`."""
    import matplotlib

    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def distribution(run: Any, twin: str) -> Any:
    """Box plots of the per-iteration samples at the smallest batch and longest sequence."""
    df = _timed(run, twin)
    if not len(df):
        return None
    batch = df["batch"].min()
    df = df[df["batch"] == batch]
    df = df[df["seq_len"] == df["seq_len"].max()].sort_values("p50_ms")
    data, labels, invalid = [], [], []
    for row in df.itertuples():
        ns = run.samples(row)
        if len(ns):
            data.append(ns / 1e6)
            labels.append(f"{row.label} (INVALID)" if row.invalid else row.label)
            invalid.append(bool(row.invalid))
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(data) + 1.8), layout="constrained")
    box = ax.boxplot(data, showfliers=True, flierprops={"markersize": 2}, patch_artist=True, **_horizontal())
    for patch, bad in zip(box["boxes"], invalid):
        patch.set_facecolor("#f6d3d3" if bad else "#dde6f3")
        patch.set_edgecolor(INVALID_COLOR if bad else "#1f4e8c")
        if bad:
            patch.set_hatch("//")
    ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=LEGEND_SIZE)
    for tick, bad in zip(ax.get_yticklabels(), invalid):
        if bad:
            tick.set_color(INVALID_COLOR)
    ax.set_xscale("log")
    ax.set_xlabel("latency per iteration (ms)")
    ax.set_title(f"{twin}: latency distribution, batch {int(batch)}, seq_len {int(df['seq_len'].max())}"
                 + (" (red, hatched: invalid cells)" if any(invalid) else ""), fontsize=10)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    return fig


def parity(run: Any, twin: str) -> Any:
    """Heat map of log10(max abs error), artifact x runtime, with the worst verdict written in."""
    df = run.parity
    if not len(df):
        return None
    df = df[df["twin"].map(text) == twin]
    if not len(df):
        return None
    import numpy as np

    arts = sorted({text(a) for a in df["artifact"]})
    rts = sorted({text(r) for r in df["runtime"]})
    grid = np.full((len(arts), len(rts)), np.nan)
    marks: dict[tuple[int, int], str] = {}
    for (a, r), g in df.groupby([df["artifact"].map(text), df["runtime"].map(text)]):
        i, j = arts.index(a), rts.index(r)
        mx = g["max_abs"].astype(float).max()
        if mx == mx:
            grid[i, j] = math.log10(max(mx, 1e-12))
        marks[(i, j)] = MARKS.get(worst_verdict(list(g["verdict"])), "?")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.3 * len(rts) + 3, 0.55 * len(arts) + 1.8))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto", vmin=-12, vmax=0)
    for (i, j), m in marks.items():
        color = "red" if m == "FAIL" else ("0.35" if grid[i, j] != grid[i, j] else "white")
        ax.text(j, i, m, ha="center", va="center", fontsize=8, color=color, fontweight="bold")
    ax.set_xticks(range(len(rts)), rts, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(arts)), arts, fontsize=8)
    ax.set_title(f"{twin}: parity, log10 max abs error vs golden", fontsize=9)
    fig.colorbar(im, ax=ax, label="log10 max abs")
    fig.tight_layout()
    return fig


def training(run: Any, twin: str) -> Any:
    """Loss (train and val) and validation accuracy per epoch, both frameworks."""
    df = run.training
    if not len(df):
        return None
    df = df[df["twin"].map(text) == twin].sort_values("epoch")
    if not len(df):
        return None
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for fw, g in df.groupby(df["framework"].map(text)):
        ax1.plot(g["epoch"], g["train_loss"].astype(float), marker="o", label=f"{fw} train")
        if g["val_loss"].notna().any():
            ax1.plot(g["epoch"], g["val_loss"].astype(float), marker="s", linestyle="--", label=f"{fw} val")
        acc = "val_acc" if g["val_acc"].notna().any() else "val_token_acc"
        ax2.plot(g["epoch"], g[acc].astype(float), marker="o", label=f"{fw} {acc}")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=LEGEND_SIZE - 1)
    ax1.set_title(f"{twin}: loss", fontsize=9)
    ax2.set_title(f"{twin}: validation accuracy", fontsize=9)
    fig.tight_layout()
    return fig


PLOTS: dict[str, Callable[[Any, str], Any]] = {
    "latency_vs_batch": latency_vs_batch,
    "latency_vs_seq": latency_vs_seq,
    "throughput": throughput,
    "distribution": distribution,
    "parity": parity,
    "training": training,
}


def png_base64(fig: Any, dpi: int = 100) -> str:
    """The figure as base64 PNG text (then closed, so many plots do not pile up in memory)."""
    plt = _plt()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")
