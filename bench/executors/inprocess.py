"""Cells in this very process: for tests and debugging, where a fresh interpreter per cell costs
more than the cell. Thread pools and imported frameworks leak from one cell to the next, so timed
figures from it are not comparable with the local executor's."""

from __future__ import annotations

from typing import Any, Iterator

from twinbench.bench.cells import CellSpec
from twinbench.bench.executors.base import register_executor
from twinbench.core.rows import failed_row
from twinbench.core.errors import one_line
from twinbench.bench.worker import run_cell


class InProcessExecutor:
    name = "inprocess"

    def __init__(self) -> None:
        self._queue: list[CellSpec] = []

    def submit(self, spec: CellSpec) -> None:
        self._queue.append(spec)

    def results(self) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
        while self._queue:
            spec = self._queue.pop(0)
            try:
                row = run_cell(spec)
            except Exception as exc:  # run_cell catches everything; this is only a last guard
                row = failed_row(spec.key_row(), one_line(exc))
            yield spec, row

    def close(self) -> None:
        self._queue.clear()


@register_executor("inprocess")
def inprocess(_options: Any) -> InProcessExecutor:
    return InProcessExecutor()
