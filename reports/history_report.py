"""`twinbench history` output: the trend per cell and machine as Markdown, and a self-contained HTML
page of trend plots (one per series, the steps marked), inline CSS and base64 PNG like report.html.

A series is one cell on one machine (fingerprint): two machines' points of the same cell are never
one trend or one step test, since a step between them would be the hardware, not the code."""

from __future__ import annotations

import html as _html
import math
from typing import Any

from twinbench.core.errors import ConfigError
from twinbench.reports.format import fnum, md_table, text
from twinbench.reports.steps import Step, cell_title, cells_of, detect_steps
from twinbench.reports.html import CSS
from twinbench.reports.plots import _plt
from twinbench.reports.plots import png_base64


def _commit(row: dict[str, Any]) -> str:
    c = text(row.get("git_commit"))[:8] or "-"
    return c + ("+dirty" if row.get("git_dirty") == 1.0 else "")


def _pct(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if x != x else f"{x:.1%}"


def check_step_options(min_effect: Any, alpha: Any) -> tuple[float, float]:
    """The step test's options, checked like compare's: ConfigError (one line, exit 2) unless
    0 < min_effect < 1 and 0 < alpha < 1, both finite (a NaN alpha would switch the test off)."""
    out = []
    for name, value, meaning in (("--min-effect", min_effect, "the smallest change that counts, 0.05 = 5%"),
                                 ("--alpha", alpha, "the step test's significance level")):
        try:
            x = float(value)
        except (TypeError, ValueError):
            x = math.nan
        if not (math.isfinite(x) and 0 < x < 1):
            raise ConfigError(f"{name}: must be a number > 0 and < 1 ({meaning}), got {value!r}")
        out.append(x)
    return out[0], out[1]


def machine_of(df: Any) -> Any:
    """Each row's machine: the fingerprint of the machine that measured the cell, else the run's."""
    own = df["machine_fingerprint"].map(text) if "machine_fingerprint" in df else df["fingerprint"].map(text)
    return own.where(own != "", df["fingerprint"].map(text))


def series(df: Any) -> list[tuple[dict[str, Any], Any]]:
    """The history rows split per cell and machine (cell key + `machine_fingerprint`, and a
    `machine_label` to show), each series' points oldest first; cells in key order, then machines."""
    if not len(df):
        return []
    out = []
    keyed = df.assign(_machine=machine_of(df))
    for fp, rows in keyed.groupby("_machine", sort=True):
        cpu = next((text(v) for v in rows["cpu_model"] if text(v)), "")
        label = f"machine {fp[:8] or '?'}" + (f" ({cpu})" if cpu else "")
        for cell, pts in cells_of(rows.drop(columns="_machine")):
            out.append(({**cell, "machine_fingerprint": fp, "machine_label": label}, pts))
    return sorted(out, key=lambda item: (series_title(item[0]), item[0]["machine_fingerprint"]))


def series_title(cell: dict[str, Any]) -> str:
    title = cell_title(cell)
    return f"{title} on {cell['machine_label']}" if cell.get("machine_label") else title


def trend(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> list[tuple[dict[str, Any], Any, list[Step]]]:
    """Each series (cell on one machine) with its points and its steps."""
    min_effect, alpha = check_step_options(min_effect, alpha)
    return [(cell, pts, detect_steps(pts, min_effect=min_effect, alpha=alpha)) for cell, pts in series(df)]


def history_markdown(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> str:
    """A summary of the steps found, then one table per cell: every point with its commit, config,
    p50, spread between processes, MDE, change against the previous point and the step mark."""
    cells = trend(df, min_effect=min_effect, alpha=alpha)
    if not len(df):
        return "# twinbench history\n\nNo recorded runs match.\n"
    all_steps = [(c, s) for c, _, steps in cells for s in steps]
    out = ["# twinbench history", "",
           f"{len(cells)} cell(s) x machine, {df['run_id'].nunique()} run(s); {len(all_steps)} step(s) "
           f"(process-level test within each machine, min effect {min_effect:.0%}, alpha {alpha}).", ""]
    if all_steps:
        out += [md_table(["step", "cell", "run", "commits", "ratio", "why"],
                         [(s.verdict, series_title(c), s.run_id, s.commits, f"{s.ratio:.3f}", s.reason)
                          for c, s in all_steps]), ""]
    for cell, pts, steps in cells:
        marks = {s.index: s for s in steps}
        out += [f"## {series_title(cell)}", ""]
        rows, prev = [], None
        for i, r in enumerate(pts.to_dict("records")):
            p50 = r.get("p50_ms")
            p50 = float(p50) if p50 is not None and p50 == p50 else None
            delta = f"{(p50 / prev - 1) * 100:+.1f}%" if p50 and prev else "-"
            mark = f"STEP {marks[i].verdict}" if i in marks else ""
            rows.append((text(r["created"]), text(r["run_id"]), text(r["kind"]), _commit(r), text(r["config_hash"])[:8],
                         text(r["status"]), fnum(r["p50_ms"]), _pct(r["between_spread"]), _pct(r["mde"]),
                         text(r["repeats"]) or "-", delta, mark))
            prev = p50 or prev
        out += [md_table(["created", "run", "kind", "commit", "config", "status", "p50 ms", "spread", "MDE",
                          "processes", "vs previous", "step"], rows, "llllllrrrrrl"), ""]
    return "\n".join(out)


def _plot(pts: Any, steps: list[Step], title: str) -> Any:
    """p50 per point with the between-process spread as error bars; steps as red dashed lines."""
    plt = _plt()
    rows = pts.to_dict("records")
    xs = list(range(len(rows)))
    ys = [float(r["p50_ms"]) if r["p50_ms"] is not None else float("nan") for r in rows]
    err = [y * float(r["between_spread"]) if r["between_spread"] is not None else 0.0 for y, r in zip(ys, rows)]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color="#1f5fa8", label="p50 (bars: spread between processes)")
    for s in steps:
        ax.axvline(s.index - 0.5, color="#b00020", linestyle="--", linewidth=1.5)
        ax.plot([s.index], [ys[s.index]], marker="o", markersize=11, markerfacecolor="none", color="#b00020")
        ax.annotate(f"step {s.ratio - 1:+.0%}", (s.index - 0.5, max(y for y in ys if y == y)), color="#b00020",
                    fontsize=11, ha="right", va="top")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{_commit(r)}\n{text(r['run_id'])[-6:]}" for r in rows], fontsize=8)
    ax.set_ylabel("p50 ms")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    fig.tight_layout()
    return fig


def history_html(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> str:
    """One page: the Markdown summary's facts as HTML tables and a trend plot per cell."""
    esc = _html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>twinbench history</title>",
             f"<style>{CSS}.step{{color:#b00020;font-weight:bold}}</style></head><body>",
             "<h1>twinbench history</h1>"]
    cells = trend(df, min_effect=min_effect, alpha=alpha)
    if not cells:
        parts.append("<p class='noplot'>No recorded runs match.</p>")
    n_steps = sum(len(s) for _, _, s in cells)
    parts.append(f"<p>{len(cells)} cell(s), {n_steps} step(s); a step is a change between consecutive points "
                 f"that the process-level test calls REGRESSION or IMPROVEMENT (min effect {min_effect:.0%}, "
                 f"alpha {alpha}).</p>")
    for cell, pts, steps in cells:
        title = series_title(cell)
        parts.append(f"<h2>{esc(title)}</h2>")
        for s in steps:
            parts.append(f"<p class='step'>STEP {esc(s.verdict)} at run {esc(s.run_id)} ({esc(s.commits)}): "
                         f"ratio {s.ratio:.3f}; {esc(s.reason)}</p>")
        try:
            img = png_base64(_plot(pts, steps, title))
            parts.append(f"<figure><img alt='trend: {esc(title)}' src='data:image/png;base64,{img}'></figure>")
        except Exception as exc:  # a plot that cannot be drawn says so instead of sinking the page
            parts.append(f"<p class='noplot'>plot unavailable: {esc(str(exc).splitlines()[0] if str(exc) else '')}</p>")
        head = "".join(f"<th>{h}</th>" for h in ("run", "created", "commit", "config", "p50 ms", "spread", "MDE",
                                                 "processes", "step"))
        marks = {s.index: s.verdict for s in steps}
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
                text(r["run_id"]), text(r["created"]), _commit(r), text(r["config_hash"])[:8], fnum(r["p50_ms"]),
                _pct(r["between_spread"]), _pct(r["mde"]), text(r["repeats"]) or "-", marks.get(i, ""))) + "</tr>"
            for i, r in enumerate(pts.to_dict("records")))
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
