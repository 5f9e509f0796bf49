"""`twinbench run [CONFIG]`: prepare (every check, `--check` stops here), build the twins, measure
every cell, finish the tables, write the reports. `--resume RUN` continues an interrupted run:
its own config from its manifest, its complete twin builds and finished cells kept."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from twinbench.config import RunConfig, config_from_manifest, with_placement
from twinbench.core.errors import ConfigError, one_line
from twinbench.core.liveness import Heartbeat, driver_alive, driver_record, now_iso
from twinbench.core.modules import verify as verify_module
from twinbench.core.tables import read_table
from twinbench.core.manifest import Manifest, create_run_dir, heartbeat, read_manifest, update_manifest
from twinbench.reports import build_reports
from twinbench.stages.build import build_all, save_inputs
from twinbench.stages.finish import cell_counts, finish_run
from twinbench.stages.measure import make_executor, measure, plan
from twinbench.stages.prepare import prepare
from twinbench.bench.parity.reference_check import reference_seconds

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    parity_verdict: str  # PASS | FAIL | SKIP
    report_md: Path | None
    report_html: Path | None
    cells: Mapping[str, int] = field(default_factory=dict)  # ok / invalid / failed / skipped (finish.cell_counts)


def recorded_modules(manifest: Manifest) -> tuple[str, ...]:
    """The twin modules a run named (its manifest's `config.twin_modules`, as written)."""
    value = manifest.config.get("twin_modules") or ()
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    return tuple(str(v) for v in items)


def failed_cells(run_dir: Path) -> int:
    """Cells of a finished run that failed (export failures are not cells: resuming cannot redo them)."""
    results = read_table(run_dir, "results")
    if not len(results):
        return 0
    return int(((results["status"].astype(str) == "failed") & (results["runtime"].astype(str) != "(export)")).sum())


def open_for_resume(run_dir: str | Path, *, twin_modules: Sequence[str] = (),
                    placement: Mapping[str, Any] | None = None,
                    keep_failed: bool = False) -> tuple[RunConfig, Manifest]:
    """(RunConfig, Manifest) of a run that can be resumed: not complete, its driver gone; or
    complete with failed cells, which are measured again (unless `keep_failed`).

    A run directory is data: its twin modules are imported again only when given on this command
    line (`twin_modules`), or when each recorded file is still where the run found it, outside the
    run directory, with the content it had (core/modules.py `verify`). Where cells run comes from
    this invocation (`placement`: `--executor`, `--ray-address`), never from the manifest."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir, require_complete=False)
    if manifest.status == "complete" and (keep_failed or not failed_cells(run_dir)):
        raise ConfigError(f"--resume: {run_dir} is already complete" + ("" if keep_failed else " (no failed cell "
                                                                        "to measure again)"))
    if manifest.status == "running" and driver_alive(manifest.driver) is not False:
        driver = manifest.driver or {}
        raise ConfigError(f"--resume: {run_dir} is still running (pid {driver.get('pid')} on {driver.get('host')})")
    cfg = config_from_manifest(manifest, anchor=True)  # command-line paths as given then
    modules = tuple(twin_modules) or tuple(verify_module(spec, manifest.twin_module_files, run_dir)
                                           for spec in recorded_modules(manifest))
    cfg = with_placement(dataclasses.replace(cfg, twin_modules=modules), placement)
    return dataclasses.replace(cfg, run_id=run_dir.name, out_dir=str(run_dir.parent)), manifest


def _reopen(run_dir: Path, manifest: Manifest) -> dict[str, Any]:
    """Mark the run as running again under this process, keeping a record of each resume."""
    record = dict(manifest.raw)
    resumes = list(record.get("resumes") or [])
    resumes.append({"at": now_iso(), "status_before": manifest.status, "driver_before": manifest.driver})
    update_manifest(run_dir, record, status="running", driver=driver_record(), resumes=resumes, error=None)
    return record


def run(cfg: RunConfig, *, say: Say = print, progress: Progress | None = None, resume: str | Path | None = None,
        wait: bool = True, allow_overlap: bool = False, check_only: bool = False,
        keep_failed: bool = False) -> RunOutcome | None:
    """The whole pipeline; returns where the run directory and reports are (None with `check_only`).

    `wait` / `allow_overlap`: what to do when another benchmark holds this machine's lock
    (core/benchlock.py). `check_only`: every check before the run directory, then None.
    `keep_failed`: a resumed run keeps its failed cells instead of measuring them again."""
    t0 = time.perf_counter()
    prep = prepare(cfg, say=say, resume=resume is not None, wait=wait, allow_overlap=allow_overlap)
    if check_only:
        return None
    cfg = prep.cfg
    if resume is None:
        run_dir, manifest = create_run_dir(cfg.out_dir, cfg.to_dict(), prep.run_id)
    else:
        run_dir = Path(resume)
        manifest = _reopen(run_dir, read_manifest(run_dir, require_complete=False))
    say(f"run directory: {run_dir}")
    beat = Heartbeat(lambda: heartbeat(run_dir, manifest)).start()
    try:
        save_inputs(run_dir, prep)
        if prep.coverage:
            update_manifest(run_dir, manifest, embeddings=prep.coverage)
        artifacts, builds = build_all(prep, run_dir, resume=resume is not None, say=say)
        t_built = time.perf_counter()
        vocab_sizes = {rt.twin.name: len(prep.data[rt.task].vocab) for rt in prep.twins}
        specs, skipped = plan(cfg, run_dir, artifacts, prep.seq_lens, vocab_sizes=vocab_sizes)
        say(f"benchmarking {len(specs)} cells ({len(skipped)} skipped) in fresh worker processes")
        runs, lease = measure(specs, make_executor(cfg), run_id=prep.run_id, run_dir=run_dir,
                              resume=resume is not None, keep_failed=keep_failed, wait=wait,
                              allow_overlap=allow_overlap, say=say, progress=progress)
        if lease.overlap:
            update_manifest(run_dir, manifest, overlap={"with": lease.overlap})
        t_bench = time.perf_counter()
        failures = [row for b in builds for row in b.failures]
        verdict = finish_run(run_dir, manifest, runs, parity=cfg.parity, twin_modules=cfg.twin_modules,
                             extra_rows=failures + skipped, histories=[b.history for b in builds],
                             param_tables=[b.params for b in builds], t0=t0,
                             timings={"build_s": round(t_built - t0, 2), "bench_s": round(t_bench - t_built, 2),
                                      "reference_s": reference_seconds(run_dir)})
    except BaseException as exc:
        stopped = isinstance(exc, (KeyboardInterrupt, SystemExit))
        update_manifest(run_dir, manifest, status="interrupted" if stopped else "failed", error=one_line(exc))
        raise
    finally:
        beat.stop()
    md, html = build_reports(run_dir)
    return RunOutcome(run_dir=run_dir, parity_verdict=verdict, report_md=md, report_html=html,
                      cells=cell_counts(run_dir))
