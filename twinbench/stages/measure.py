"""Measure stage: the run's cells planned from its typed config, an executor made from its
`[executor]` choice, and the cells run under the machine-wide benchmark lock. A resumed run keeps
every cell whose row is on disk for the same spec (joined by the cell's identity, not by position)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from twinbench.bench.cells import CellSpec, plan_cells
from twinbench.bench.executors.base import Executor, executor_options, expand_cells, get_executor
from twinbench.bench.executors.local import read_row
from twinbench.bench.runner import CellRun, run_cells
from twinbench.config import RunConfig
from twinbench.core.benchlock import bench_lock
from twinbench.core.layout import RunDir
from twinbench.core.rows import from_json

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]
#: Spec fields that may differ between the first attempt and the resume without changing the cell.
_LOCAL_FIELDS = ("run_dir",)


def plan(cfg: RunConfig, run_dir: Path, artifacts: Iterable[Any], seq_lens: Sequence[int], *,
         vocab_sizes: dict[str, int] | None = None) -> tuple[list[CellSpec], list[dict[str, Any]]]:
    """The cells of a run (timed, with repeats) and the rows of those that cannot run here."""
    return plan_cells(run_dir=run_dir, artifacts=artifacts, runtimes=list(cfg.runtimes), devices=list(cfg.devices),
                      batches=list(cfg.batches), seq_lens=list(seq_lens), threads=list(cfg.threads), plan=cfg.timing,
                      settings={k: dict(v) for k, v in cfg.runtime_settings.items()},
                      twin_modules=list(cfg.twin_modules), vocab_sizes=vocab_sizes, parity=cfg.parity,
                      calibration=cfg.calibration, scenarios=list(cfg.scenarios), load=to_load(cfg))


def to_load(cfg: RunConfig) -> dict[str, Any]:
    return cfg.load.to_dict()


def make_executor(cfg: RunConfig) -> Executor:
    """The executor the config chose (`[executor] kind`, with its typed options); machines tags,
    when given, go to an executor that places cells (the config check refused the others)."""
    choice = cfg.executor
    options = choice.options or executor_options(choice.kind, choice.values(cfg.cell_timeout_s))
    if cfg.machines and hasattr(options, "machines") and not options.machines:
        import dataclasses

        options = dataclasses.replace(options, machines=tuple(cfg.machines))
    return get_executor(choice.kind, options)


def _same_spec(spec: CellSpec, stored: Path) -> bool:
    try:
        old = json.loads(stored.read_text())
    except (OSError, ValueError):
        return False
    new = spec.to_dict()
    for key in _LOCAL_FIELDS:
        old.pop(key, None)
        new.pop(key, None)
    return json.loads(json.dumps(new, sort_keys=True, default=str)) == old


def finished(specs: Iterable[CellSpec], *, keep_failed: bool = False) -> dict[str, CellRun]:
    """Cell id -> the run already on disk, for cells finished with the same spec (resume). A
    failed cell (a crash, a timeout, a full disk) is measured again unless `keep_failed`: a
    transient failure must not be frozen into the finished run."""
    out = {}
    for spec in specs:
        files = RunDir(spec.run_dir, spec.cells).cell(spec.cell_id)
        row = read_row(files.row) if files.row.is_file() else None
        if row is not None and not keep_failed and row.get("status") == "failed":
            continue
        if row is not None and _same_spec(spec, files.spec):
            out[spec.cell_id] = CellRun(spec, from_json(row, spec.key_row()))
    return out


def measure(specs: Sequence[CellSpec], executor: Executor, *, run_id: str, run_dir: Path, resume: bool = False,
            keep_failed: bool = False, wait: bool = True, allow_overlap: bool = False, say: Say = print,
            progress: Progress | None = None) -> tuple[list[CellRun], Any]:
    """Run `specs` (expanded by the executor) under the benchmark lock; with `resume`, cells
    already finished keep their rows (failed ones only with `keep_failed`). Returns (every cell's
    CellRun, the lock's lease)."""
    specs = expand_cells(executor, specs)  # one copy of every cell per kind of machine (ray)
    kept = finished(specs, keep_failed=keep_failed) if resume else {}
    todo = [s for s in specs if s.cell_id not in kept]
    if kept:
        say(f"resuming: {len(kept)} of {len(specs)} cells already measured, {len(todo)} to go")
    with bench_lock(run_id, run_dir, wait=wait, allow_overlap=allow_overlap, say=say) as lease:
        fresh = run_cells(todo, executor, progress=progress) if todo else []
    if not todo:
        executor.close()
    by_id = {r.spec.cell_id: r for r in fresh}
    return [kept.get(s.cell_id) or by_id[s.cell_id] for s in specs if s.cell_id in kept or s.cell_id in by_id], lease
