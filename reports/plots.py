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

#: Verdict -> mark drawn on the parity heat map.
MARKS = {"PASS": "ok", "FAIL": "FAIL", "ERROR": "ERR", "SKIP": "skip"}


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
    return df


def _lines(run: Any, twin: str, x: str, panel: str) -> Any:
    df = _timed(run, twin)
    if not len(df) or df[x].nunique() < 1:
        return None
    plt = _plt()
    panels = sorted(df[panel].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.8, 3.4), squeeze=False)
    for ax, pv in zip(axes[0], panels):
        sub = df[df[panel] == pv]
        for label, g in sub.groupby("label", sort=True):
            g = g.groupby(x)["p50_ms"].median().sort_index()
            ax.plot(g.index, g.values, marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(f"{twin}: {panel} {pv}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
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
    plt = _plt()
    labels = sorted(df["label"].unique())
    batches = sorted(df["batch"].unique())
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(batches) * max(1, len(labels)) / 3 + 3), 3.6))
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        g = df[df["label"] == label].groupby("batch")["throughput_sps"].median()
        xs = [batches.index(b) + i * width for b in g.index]
        ax.bar(xs, g.values, width=width, label=label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(batches))], [str(b) for b in batches])
    ax.set_xlabel("batch")
    ax.set_ylabel("sequences / s")
    ax.set_title(f"{twin}: throughput at seq_len {int(df['seq_len'].max())}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def distribution(run: Any, twin: str) -> Any:
    """Box plots of the per-iteration samples at the smallest batch and longest sequence."""
    df = _timed(run, twin)
    if not len(df):
        return None
    batch = df["batch"].min()
    df = df[df["batch"] == batch]
    df = df[df["seq_len"] == df["seq_len"].max()].sort_values("p50_ms")
    data, labels = [], []
    for row in df.itertuples():
        ns = run.samples(row)
        if len(ns):
            data.append(ns / 1e6)
            labels.append(row.label)
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(data) + 1.6))
    ax.boxplot(data, vert=False, showfliers=True, flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("latency per iteration (ms)")
    ax.set_title(f"{twin}: latency distribution, batch {int(batch)}, seq_len {int(df['seq_len'].max())}",
                 fontsize=9)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def parity(run: Any, twin: str) -> Any:
    """Heat map of log10(max abs error), artifact x runtime, with the worst verdict written in."""
    from twinbench.reports.sections import worst_verdict

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
        ax.legend(fontsize=7)
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


def png_base64(fig: Any, dpi: int = 80) -> str:
    """The figure as base64 PNG text (then closed, so many plots do not pile up in memory)."""
    plt = _plt()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")
