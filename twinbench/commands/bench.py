"""`twinbench bench RUN`: measure the artifacts of an existing run directory again, on this machine,
into a new run directory; no training, no export. `compare --remeasure` and `twinbench gate`
(commands/gate.py) prepare both runs' copies here and measure them interleaved and sequentially.

It is how CI compares a runtime upgrade on the same model, how a run directory carried to another
machine is measured there for `twinbench hardware`, and how A/A is checked cheaply. The source's
config is its typed manifest config with the user's overrides merged over it; where its cells run
is this invocation's choice alone (a source's `[executor]` and `machines` are never taken)."""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from twinbench.bench.runner import CellRun, run_cells
from twinbench.config import RunConfig, config_from_manifest, config_from_mapping
from twinbench.core.benchlock import bench_lock
from twinbench.core.errors import RunDirError, one_line
from twinbench.core.layout import RunDir
from twinbench.core.manifest import create_run_dir, read_manifest, update_manifest
from twinbench.commands.parity import check_twin_modules, read_artifacts
from twinbench.commands.progress import silent_say
from twinbench.commands.run import RunOutcome, outcome_answer
from twinbench.config import read_config_file
from twinbench.overrides import apply_sets
from twinbench.presets import timing_overrides
from twinbench.reports.build import build
from twinbench.summary import Answer
from twinbench.stages.finish import cell_counts, finish_run
from twinbench.stages.measure import make_executor, plan
from twinbench.stages.prepare import artifact_tasks, seq_lens

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]
#: Keys of the source's config that belong to where and how it ran, not to what is measured.
_NOT_TAKEN = ("executor", "machines", "run_id", "out_dir")


@dataclass(frozen=True)
class Prepared:
    """A new run directory holding a copy of a source run's artifacts, and the cells to measure."""

    cfg: RunConfig
    run_dir: Path
    manifest: dict[str, Any]
    specs: list[Any]
    skipped: list[dict[str, Any]]
    t0: float


def source_config(source: Path, overrides: Mapping[str, Any] | None) -> RunConfig:
    """The source run's typed config with `overrides` (a config mapping) merged over it."""
    manifest = read_manifest(source, require_complete=False)
    base = config_from_manifest(manifest)
    base = dataclasses.replace(base, **{k: getattr(RunConfig(), k) for k in _NOT_TAKEN})
    changes = {k: v for k, v in (overrides or {}).items() if v not in (None, (), [])}
    return config_from_mapping(changes, base)


def _copy_tree(src: Path, dst: Path) -> None:
    """A copy that never follows a symlink out of the source: links are refused, not resolved."""
    for path in src.rglob("*"):
        if path.is_symlink():
            raise RunDirError(f"{path}: a symlink inside a run directory (refused: copies never follow links)")
    shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)


def prepare(source: str | Path, overrides: Mapping[str, Any] | None = None, *, say: Say = print,
            twin_modules: Sequence[str] = ()) -> Prepared:
    """Copy the source's artifacts and data into a new run directory and plan its cells with the
    source's matrix, updated by `overrides`."""
    source = Path(source)
    cfg = source_config(source, overrides)
    src = RunDir(source)
    if not src.artifacts.is_dir():
        raise RunDirError(f"{source}: no artifacts/ folder to measure")
    artifacts = [a for a in read_artifacts(src, with_goldens=False) if a.twin != "_calibration"]
    if not artifacts:
        raise RunDirError(f"{source}/artifacts: no artifacts to measure")
    given = tuple(twin_modules) or (cfg.twin_modules if (overrides or {}).get("twin_modules") else ())
    check_twin_modules(cfg.twin_modules, given, artifacts)
    cfg = dataclasses.replace(cfg, twin_modules=given)
    t0 = time.perf_counter()
    run_dir, manifest = create_run_dir(cfg.out_dir, cfg.to_dict(), cfg.run_id)
    update_manifest(run_dir, manifest, source_run=str(source.resolve()), kind="bench")
    layout = RunDir(run_dir)
    _copy_tree(src.artifacts, layout.artifacts)
    if (source / "data").is_dir():
        _copy_tree(source / "data", run_dir / "data")
    copied = [a for a in read_artifacts(layout, with_goldens=False) if a.twin != "_calibration"]
    specs, skipped = plan(cfg, run_dir, copied, seq_lens(cfg, artifact_tasks(artifacts)))  # the planner adds its own calibration
    say(f"run directory: {run_dir} (re-measuring {source})")
    return Prepared(cfg, run_dir, manifest, specs, skipped, t0)


def finish_prepared(p: Prepared, runs: list[CellRun], bench_s: float) -> RunOutcome:
    """Tables, manifest and reports of a prepared run from its measured processes."""
    try:
        verdict = finish_run(p.run_dir, p.manifest, runs, parity=p.cfg.parity, twin_modules=p.cfg.twin_modules,
                             extra_rows=p.skipped, timings={"bench_s": round(bench_s, 2)}, t0=p.t0)
    except BaseException as exc:
        update_manifest(p.run_dir, p.manifest, status="failed", error=one_line(exc))
        raise
    built = build(p.run_dir)
    return RunOutcome(run_dir=p.run_dir, parity_verdict=verdict, report_md=built.report_md,
                      report_html=built.report_html, lead=built.lead, cells=cell_counts(p.run_dir))


def remeasure(source: str | Path, overrides: Mapping[str, Any] | None = None, *, say: Say = print,
              progress: Progress | None = None, twin_modules: Sequence[str] = ()) -> RunOutcome:
    """Measure a run directory's artifacts again into a new run directory."""
    p = prepare(source, overrides, say=say, twin_modules=twin_modules)
    try:
        say(f"benchmarking {len(p.specs)} cells ({len(p.skipped)} skipped) in fresh worker processes")
        t = time.perf_counter()
        with bench_lock(p.run_dir.name, p.run_dir, say=say):  # one benchmark at a time on this machine
            runs = run_cells(p.specs, make_executor(p.cfg), progress=progress)
    except BaseException as exc:
        update_manifest(p.run_dir, p.manifest, status="failed", error=one_line(exc))
        raise
    return finish_prepared(p, runs, time.perf_counter() - t)


# the command line ---------------------------------------------------------------------------------

def bench_overrides(config: Path | None = None, sets: Sequence[str] = (), *, runtime: Sequence[str] | None = None,
                    batch: Sequence[int] | None = None, seq_len: Sequence[int] | None = None,
                    threads: Sequence[int] | None = None, out: str | None = None, fast: bool = False,
                    rigorous: bool = False, repeats: int | None = None, min_time: float | None = None,
                    max_time: float | None = None, min_iters: int | None = None) -> dict[str, Any]:
    """The overrides of the source's config: the `--config` file, its `--set` items, then the options."""
    merged = apply_sets(read_config_file(config) if config else {}, sets)
    given = {"runtimes": runtime, "batches": batch, "seq_lens": seq_len, "threads": threads, "out_dir": out}
    merged.update({k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v not in (None, [], ())})
    timing = timing_overrides(fast=fast, rigorous=rigorous, repeats=repeats, min_time=min_time, max_time=max_time,
                              min_iters=min_iters)
    if timing:
        merged["timing"] = {**dict(merged.get("timing") or {}), **timing}
    return merged


def main(run_dir: Path, *, overrides: Mapping[str, Any] | None = None, twin_modules: Sequence[str] = (),
         allow_failed: bool = False, fail_invalid: bool = False, say: Say = silent_say,
         progress: Progress | None = None) -> Answer:
    """`twinbench bench RUN`: the re-measurement, then its Answer (as `run`'s, plus the new run's path;
    exit 4 on a failed cell unless `allow_failed`)."""
    outcome = remeasure(run_dir, overrides, say=say, progress=progress, twin_modules=twin_modules)
    return outcome_answer(outcome, after=[f"run:    {outcome.run_dir}"], allow_failed=allow_failed,
                          fail_invalid=fail_invalid)
