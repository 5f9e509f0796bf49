"""`twinbench history` output: the trend per cell as Markdown, and a self-contained HTML page of
trend plots (one per cell, the steps marked), inline CSS and base64 PNG like report.html."""

from __future__ import annotations

import html as _html
from typing import Any

from twinbench.reports.format import fnum, md_table, text
from twinbench.reports.steps import Step, cell_title, cells_of, detect_steps


def _commit(row: dict[str, Any]) -> str:
    c = text(row.get("git_commit"))[:8] or "-"
    return c + ("+dirty" if row.get("git_dirty") == 1.0 else "")


def _pct(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if x != x else f"{x:.1%}"


def trend(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> list[tuple[dict[str, Any], Any, list[Step]]]:
    """Each cell with its points and its steps."""
    return [(cell, pts, detect_steps(pts, min_effect=min_effect, alpha=alpha)) for cell, pts in cells_of(df)]


def history_markdown(df: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> str:
    """A summary of the steps found, then one table per cell: every point with its commit, config,
    p50, spread between processes, MDE, change against the previous point and the step mark."""
    if not len(df):
        return "# twinbench history\n\nNo recorded runs match.\n"
    cells = trend(df, min_effect=min_effect, alpha=alpha)
    all_steps = [(c, s) for c, _, steps in cells for s in steps]
    out = ["# twinbench history", "",
           f"{len(cells)} cell(s), {df['run_id'].nunique()} run(s); {len(all_steps)} step(s) "
           f"(process-level test, min effect {min_effect:.0%}, alpha {alpha}).", ""]
    if all_steps:
        out += [md_table(["step", "cell", "run", "commits", "ratio", "why"],
                         [(s.verdict, cell_title(c), s.run_id, s.commits, f"{s.ratio:.3f}", s.reason)
                          for c, s in all_steps]), ""]
    for cell, pts, steps in cells:
        marks = {s.index: s for s in steps}
        out += [f"## {cell_title(cell)}", ""]
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
    from twinbench.reports.plots import _plt

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
    from twinbench.reports.html import CSS
    from twinbench.reports.plots import png_base64

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
        title = cell_title(cell)
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
