"""`twinbench report RUN`: rebuild report.md and report.html from the run directory alone, leading
with the answer (reports/lead.py), and with the changes against `--baseline BASE` when given.
`--summary` prints only the one-line summary (for a CI log) and writes nothing.

`report` and `summary` are the Python API's; `main` is the command line's body."""

from __future__ import annotations

from pathlib import Path

from twinbench.config import check_recorded_config
from twinbench.reports.build import Built, build, build_reports
from twinbench.reports.lead import summary_line
from twinbench.reports.ranking import save_baseline
from twinbench.summary import Answer, lines, run_summary


def _checked(run_dir: str | Path, baseline: str | Path | None) -> None:
    """Refuse a run directory (or baseline) whose recorded config is corrupt: one line, exit 2."""
    for path in (run_dir, baseline):
        if path is not None:
            check_recorded_config(path)


def report(run_dir: str | Path, baseline: str | Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html (pytest-benchmark files are converted first); their paths."""
    _checked(run_dir, baseline)
    return build_reports(run_dir, baseline)


def summary(run_dir: str | Path, baseline: str | Path | None = None) -> str:
    """The run's one-line summary (what `run` and `bench` print last); nothing is written."""
    _checked(run_dir, baseline)
    return summary_line(build(run_dir, baseline, write=False).lead)


def main(run_dir: Path, *, baseline: Path | None = None, summary_only: bool = False) -> Answer:
    """`twinbench report`: the reports (or, with `summary_only`, just the line), then its Answer."""
    _checked(run_dir, baseline)
    if baseline is not None and not summary_only:  # the ranking section: the baseline's figures copied in
        save_baseline(run_dir, baseline)
    built: Built = build(run_dir, baseline, write=not summary_only)
    line = summary_line(built.lead)
    data = {**run_summary(built.run_dir, built.lead.parity, report_md=built.report_md,
                          report_html=built.report_html, summary=line),
            "baseline": str(baseline) if baseline is not None else None, "lead": built.lead.to_dict()}
    if summary_only:
        return Answer(0, data, lines(line))
    return Answer(0, data, lines(f"report: {built.report_md}", f"html:   {built.report_html}", line))
