"""build_reports: report.md and report.html from a run directory alone (a pure function of it)."""

from __future__ import annotations

from pathlib import Path

from twinbench.core.atomic import write_text
from twinbench.core.layout import RunDir
from twinbench.reports.html import render_html
from twinbench.reports.markdown import render_markdown
from twinbench.reports.pytest_benchmark import as_run_dir
from twinbench.reports.tables import load_run


def build_reports(run_dir: str | Path) -> tuple[Path, Path]:
    """Write report.md and report.html into the run directory; returns their paths.

    A pytest-benchmark JSON file (`--benchmark-json`) or a folder of saved sessions (`.benchmarks/`)
    is accepted too: it is first converted into a run directory next to it (`<name>.twinbench/`),
    whose reports are then built."""
    path = as_run_dir(run_dir)  # pytest-benchmark JSON files and .benchmarks/ folders are converted first
    run = load_run(path)
    md, html = RunDir(path).report_md, RunDir(path).report_html
    write_text(md, render_markdown(run))
    write_text(html, render_html(run))
    return md, html
