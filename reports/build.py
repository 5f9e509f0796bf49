"""build_reports: report.md and report.html from a run directory alone (a pure function of it)."""

from __future__ import annotations

import os
from pathlib import Path

from twinbench.errors import RunDirError


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_reports(run_dir: str | Path) -> tuple[Path, Path]:
    """Write report.md and report.html into the run directory; returns their paths.

    A pytest-benchmark JSON file (`--benchmark-json`) is accepted too: it is first converted into a
    run directory next to it (`<name>.twinbench/`), whose reports are then built."""
    from twinbench.reports.html import render_html
    from twinbench.reports.markdown import render_markdown
    from twinbench.reports.tables import load_run

    path = Path(run_dir)
    if path.is_file() and path.suffix == ".json":
        from twinbench.reports.pytest_benchmark import to_run_dir

        path = to_run_dir(path)
    elif path.is_file():
        raise RunDirError(f"{path}: not a run directory nor a pytest-benchmark .json file")
    run = load_run(path)
    md, html = path / "report.md", path / "report.html"
    _write_atomic(md, render_markdown(run))
    _write_atomic(html, render_html(run))
    return md, html
