"""twinbench.reports: tables, Markdown/HTML reports, run and machine comparison, history.

Plain functions the CLI calls (exit-code semantics in docs/reports.md):
`build_reports`, `compare.compare_runs`, `hardware.hardware_table`, `history.record` / `history.history`.
"""

from __future__ import annotations

from twinbench.reports.build import build_reports

__all__ = ["build_reports"]
