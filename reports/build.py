"""build_reports: report.md and report.html from a run directory alone (a pure function of it, and of
the baseline run when one is given)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinbench.core.atomic import write_text
from twinbench.core.layout import RunDir
from twinbench.reports.compare import compare_loaded
from twinbench.reports.html import render_html
from twinbench.reports.lead import Lead, lead
from twinbench.reports.markdown import render_markdown
from twinbench.reports.pytest_benchmark import as_run_dir
from twinbench.reports.tables import RunData, load_run


@dataclass(frozen=True)
class Built:
    """A run's reports (None when only the lead was asked for) and its lead (reports/lead.py)."""

    run_dir: Path
    report_md: Path | None
    report_html: Path | None
    lead: Lead


def read(run_dir: str | Path, baseline: str | Path | None = None) -> tuple[RunData, Any, Lead]:
    """The loaded run, its compare rows against `baseline` (None without one) and its lead.

    A pytest-benchmark JSON file (`--benchmark-json`) or a folder of saved sessions (`.benchmarks/`)
    is accepted for either: it is first converted into a run directory next to it (`<name>.twinbench/`)."""
    run = load_run(as_run_dir(run_dir))
    compared = compare_loaded(load_run(as_run_dir(baseline)), run) if baseline is not None else None
    return run, compared, lead(run, compared)


def build(run_dir: str | Path, baseline: str | Path | None = None, *, write: bool = True) -> Built:
    """Write report.md and report.html into the run directory (`write`), leading with the changes
    against `baseline` when given; with `write=False` only the lead is computed (nothing is written)."""
    run, compared, found = read(run_dir, baseline)
    if not write:
        return Built(run.path, None, None, found)
    layout = RunDir(run.path)
    write_text(layout.report_md, render_markdown(run, compared, found))
    write_text(layout.report_html, render_html(run, compared, found))
    return Built(run.path, layout.report_md, layout.report_html, found)


def build_reports(run_dir: str | Path, baseline: str | Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into the run directory; returns their paths (see `build`)."""
    layout = RunDir(build(run_dir, baseline).run_dir)
    return layout.report_md, layout.report_html
