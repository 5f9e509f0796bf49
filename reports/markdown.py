"""report.md: the run report as GitHub-flavoured Markdown (renders on GitHub and in CI summaries)."""

from __future__ import annotations

from typing import Any, Iterable

from twinbench.reports.format import md_table
from twinbench.reports.load import with_load
from twinbench.reports.lead import Lead
from twinbench.reports.sections import Figure, Heading, Para, Table, report_blocks


def blocks_to_markdown(blocks: Iterable[Any]) -> str:
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            parts.append(f"> {b.text}" if b.role == "summary" else b.text)
        elif isinstance(b, Table):
            parts.append(md_table(b.headers, b.rows, b.align))
        elif isinstance(b, Figure):
            continue
    return "\n\n".join(parts) + "\n"


def render_markdown(run: Any, compared: Any = None, found: Lead | None = None) -> str:
    """The whole report of a loaded run (`tables.load_run`) as Markdown text; `compared`/`found` as
    in sections.report_blocks."""
    return blocks_to_markdown(with_load(report_blocks(run, compared, found), run))  # + the load section
