"""report.html: the run report as one self-contained HTML file (inline CSS, base64 PNG plots).

No scripts and no external URLs, so it opens offline, from a CI artifact or an e-mail attachment.
"""

from __future__ import annotations

import html as _html
import logging
from typing import Any, Iterable

from twinbench.reports.plots import PLOTS, png_base64
from twinbench.reports.load import PLOTS as LOAD_PLOTS
from twinbench.reports.load import with_load
from twinbench.reports.lead import Lead
from twinbench.reports.sections import Figure, Heading, Para, Table, report_blocks

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#1b1b1b;padding:0 1em}
table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f0f2f5}
td.r{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
figure{margin:0.8em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
.PASS,.IMPROVEMENT{color:#116611;font-weight:bold}.FAIL,.ERROR,.REGRESSION{color:#b00020;font-weight:bold}
.SKIP{color:#777}
p.summary{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;background:#f6f8fa;
border-left:4px solid #888;padding:6px 10px}
.noplot{color:#777;font-style:italic}
"""


#: Words that open a table cell and are coloured by their meaning.
VERDICT_WORDS = ("PASS", "FAIL", "ERROR", "SKIP", "REGRESSION", "IMPROVEMENT")


def _inline(text: str) -> str:
    """Escape, then honour the one Markdown idiom the sections use: **bold**."""
    parts = _html.escape(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _cell(text: str, align: str) -> str:
    cls = ' class="r"' if align == "r" else ""
    word = text.split(" ", 1)[0] if text else ""
    if word in VERDICT_WORDS:
        body = f'<span class="{word}">{_html.escape(word)}</span>{_html.escape(text[len(word):])}'
    else:
        body = _html.escape(text)
    return f"<td{cls}>{body}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{_html.escape(h)}</th>" for h in t.headers)
    rows = "".join("<tr>" + "".join(_cell(c, a) for c, a in zip(r, t.align)) + "</tr>" for r in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _figure(run: Any, f: Figure) -> str:
    fn = PLOTS.get(f.kind) or LOAD_PLOTS.get(f.kind)  # load plots live in reports/load.py
    title = f"{f.kind.replace('_', ' ')}: {f.twin}"
    try:
        fig = fn(run, f.twin) if fn else None
    except Exception as exc:  # a plot must not take the whole report down; say so in the page
        log.warning("plot %s for %s failed: %s", f.kind, f.twin, exc)
        return f'<p class="noplot">Plot "{_html.escape(title)}" failed: {_html.escape(str(exc))}</p>'
    if fig is None:
        return f'<p class="noplot">No data for plot "{_html.escape(title)}".</p>'
    data = png_base64(fig)
    return (f'<figure><img class="plot" alt="{_html.escape(title)}" src="data:image/png;base64,{data}">'
            f"</figure>")


def blocks_to_html(run: Any, blocks: Iterable[Any]) -> str:
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            role = f' class="{_html.escape(b.role)}"' if b.role else ""
            body.append(f"<p{role}>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Figure):
            body.append(_figure(run, b))
    title = _html.escape(f"twinbench report: {run.run_id}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{CSS}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def render_html(run: Any, compared: Any = None, found: Lead | None = None) -> str:
    """The whole report of a loaded run (`tables.load_run`) as one HTML page; `compared`/`found` as
    in sections.report_blocks."""
    return blocks_to_html(run, with_load(report_blocks(run, compared, found), run))  # + the load section
