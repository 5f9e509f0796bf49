"""`twinbench export RUN --format F`: the run's ok cells in a CI dashboard's format (Bencher's
metric format, github-action-benchmark's JSON, pytest-benchmark's JSON; reports/export.py,
docs/ci.md), on stdout or into `--out FILE`.

`export` is the Python API's; `main` is the command line's body. Its `--json` object names the
format and the file, and holds the exported document itself when no `--out` was given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twinbench.reports.export import export_run
from twinbench.summary import Answer, lines


def export(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> str:
    """The export as JSON text, also written atomically to `out` when given."""
    return export_run(run_dir, fmt, out)


def _entries(doc: Any) -> int:
    """How many benchmarks the document holds, whatever its format's shape."""
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        return len(doc["benchmarks"])
    return len(doc) if isinstance(doc, dict) else 0


def main(run_dir: Path, *, fmt: str, out: Path | None = None) -> Answer:
    body = export(run_dir, fmt, out)
    doc = json.loads(body)
    data: dict[str, Any] = {"format": fmt, "out": str(out) if out else None, "entries": _entries(doc)}
    if out is None:
        data["document"] = doc
        return Answer(0, data, lambda: print(body, end=""))
    return Answer(0, data, lines(f"export: {out}"))
