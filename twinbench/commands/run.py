"""`twinbench run [CONFIG]`: prepare (every check, `--check` stops here), build the twins, measure
every cell, finish the tables, write the reports. `--resume RUN` continues an interrupted run:
its own config from its manifest, its complete twin builds and finished cells kept.

`run` is the pipeline (the Python API's `api.run`); `main` is the command line's body: the options
turned into config overrides (`overrides`), then the run, then its `Answer` (`outcome_answer`,
shared with `bench`)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from twinbench.commands.progress import silent_say
from twinbench.config import RunConfig, config_from_manifest, load_config, with_placement
from twinbench.core.errors import ConfigError, one_line
from twinbench.core.liveness import Heartbeat, driver_alive, driver_record, now_iso
from twinbench.core.modules import verify as verify_module
from twinbench.core.tables import read_table
from twinbench.core.manifest import Manifest, create_run_dir, heartbeat, read_manifest, update_manifest
from twinbench.presets import timing_overrides
from twinbench.reports.build import build
from twinbench.reports.lead import Lead, summary_line
from twinbench.reports.load import summary_lines
from twinbench.reports.ranking import check_baseline, save_baseline
from twinbench.stages.build import build_all, save_inputs
from twinbench.stages.finish import cell_counts, finish_run
from twinbench.stages.measure import make_executor, measure, plan
from twinbench.stages.prepare import prepare
from twinbench.bench.parity.reference_check import reference_seconds
from twinbench.summary import Answer, lines, run_summary

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    parity_verdict: str  # PASS | FAIL | SKIP
    report_md: Path | None
    report_html: Path | None
    lead: Lead | None = None  # what the report leads with (reports/lead.py); its one line is the CI summary
    cells: Mapping[str, int] = field(default_factory=dict)  # ok / invalid / failed / skipped (finish.cell_counts)

    @property
    def summary(self) -> str | None:
        return summary_line(self.lead) if self.lead is not None else None


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
    built = build(run_dir)
    return RunOutcome(run_dir=run_dir, parity_verdict=verdict, report_md=built.report_md,
                      report_html=built.report_html, lead=built.lead, cells=cell_counts(run_dir))


# the command line ---------------------------------------------------------------------------------

def _given(**kw: Any) -> dict[str, Any]:
    """The options that were given (None, empty lists dropped), lists as tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items() if v not in (None, [], ())}


def overrides(*, twin: Sequence[str] | None = None, runtime: Sequence[str] | None = None,
              exporter: Sequence[str] | None = None, variant: Sequence[str] | None = None,
              batch: Sequence[int] | None = None, seq_len: Sequence[int] | None = None,
              threads: Sequence[int] | None = None, device: Sequence[str] | None = None,
              twin_module: Sequence[str] | None = None, onnx: Sequence[str] | None = None, out: str | None = None,
              epochs: int | None = None, vectors: str | None = None, freeze_embedding: bool | None = None,
              executor: str | None = None, ray_address: str | None = None, machine: Sequence[str] | None = None,
              scenario: Sequence[str] | None = None, qps: float | None = None, latency_bound: float | None = None,
              load_duration: float | None = None, streams: Sequence[int] | None = None,
              max_batch: Sequence[int] | None = None, fast: bool = False, rigorous: bool = False,
              repeats: int | None = None, min_time: float | None = None, max_time: float | None = None,
              min_iters: int | None = None, onnx_input: Sequence[str] | None = None, reference: str | None = None,
              golden: str | None = None, reference_runtime: str | None = None) -> dict[str, Any]:
    """`run`'s options as config overrides (config keys, as a TOML file spells them); they win over
    the config file and its `--set` items."""
    out_ = _given(twins=twin, runtimes=runtime, exporters=exporter, variants=variant, batches=batch,
                  seq_lens=seq_len, threads=threads, devices=device, twin_modules=twin_module, onnx=onnx,
                  out_dir=out, scenarios=scenario)
    if epochs is not None:
        out_["training"] = {"epochs": epochs}
    timing = timing_overrides(fast=fast, rigorous=rigorous, repeats=repeats, min_time=min_time, max_time=max_time,
                              min_iters=min_iters)
    if timing:
        out_["timing"] = timing
    placement = _given(kind=executor or ("ray" if ray_address else None), address=ray_address)
    if placement:
        out_["executor"] = placement
    if machine:
        out_["machines"] = tuple(machine)
    embeddings = _given(vectors=vectors, freeze=freeze_embedding)
    if embeddings:
        out_["embeddings"] = embeddings
    load = _given(qps=qps, latency_bound_ms=latency_bound, duration_s=load_duration, streams=streams,
                  max_batch=max_batch)
    if load:
        out_["load"] = load
    if onnx_input:
        out_["onnx_inputs"] = pairs("--onnx-input", onnx_input)
    ref = _given(onnx=reference, golden=golden, runtime=reference_runtime)
    if ref:
        out_["onnx_reference"] = ref
    return out_


def pairs(option: str, items: Sequence[str]) -> dict[str, str]:
    """NAME=VALUE options as a mapping (one line, exit 2, on a missing '=')."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{option}: expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


#: A `run` or `bench` in which a cell the user asked for failed (crash, timeout, runtime or export error).
FAILED_CELLS = 4


def outcome_answer(outcome: RunOutcome, *, before: Sequence[str] = (), after: Sequence[str] = (),
                   allow_failed: bool = False, fail_invalid: bool = False) -> Answer:
    """A finished `run` or `bench`: exit 1 on a parity FAIL (outputs that disagree), else 4 when a
    cell failed or its parity could not be checked (unless `allow_failed`) or, with `fail_invalid`,
    was invalid (noisy); its JSON object; its lines, the last one the one-line summary for a CI log."""
    cells = dict(outcome.cells or {})
    failed, invalid = cells.get("failed", 0), cells.get("invalid", 0)
    checks = dict(outcome.lead.parity_checks) if outcome.lead is not None else {}
    # exit 1 is numbers that disagree; a check that could not run (ERROR: its cell failed) is exit 4
    disagree = checks.get("FAIL", 0) > 0 if outcome.lead is not None else outcome.parity_verdict == "FAIL"
    unchecked = checks.get("ERROR", 0) if not disagree and outcome.parity_verdict == "FAIL" else 0
    code = 1 if disagree else 0
    if not code and (((failed or unchecked) and not allow_failed) or (invalid and fail_invalid)):
        code = FAILED_CELLS
    counts = "cells: " + ", ".join(f"{cells.get(k, 0)} {k}" for k in ("ok", "invalid", "failed", "skipped"))
    data = {**run_summary(outcome.run_dir, outcome.parity_verdict, report_md=outcome.report_md,
                          report_html=outcome.report_html, summary=outcome.summary),
            "lead": outcome.lead.to_dict() if outcome.lead is not None else None,
            "cell_status": cells, "failed_cells": failed, "invalid_cells": invalid}
    text = [*before, counts, f"parity: {outcome.parity_verdict}", f"report: {outcome.report_md}", *after]
    reason = None
    if code == FAILED_CELLS:
        why = (f"{failed} cell(s) failed" if failed else f"{unchecked} parity check(s) could not run") \
            if (failed or unchecked) and not allow_failed else f"{invalid} cell(s) invalid (--fail-invalid)"
        reason = f"{why}: exit {FAILED_CELLS} (see the results table's error column; --allow-failed to accept)"
    return Answer(code, data, lines(*text, *([outcome.summary] if outcome.summary else []), error=reason))


def main(*, config: Path | None, sets: Sequence[str] = (), options: dict[str, Any] | None = None,
         resume: Path | None = None, check: bool = False, wait: bool = True, allow_overlap: bool = False,
         keep_failed: bool = False, allow_failed: bool = False, fail_invalid: bool = False,
         preset: str | None = None, baseline: Path | None = None,
         say: Say = silent_say, progress: Progress | None = None) -> Answer:
    """`twinbench run`: the config (file, then `--set` items, then `options` from `overrides`), then
    `--check` alone or the whole run. `--resume` takes the run's own config: only the modules to
    trust (`--twin-module`) and where cells run (`--executor`, `--ray-address`) come from here."""
    options = options or {}
    if baseline is not None:
        check_baseline(baseline)  # before any training: one line, exit 2
    if resume is not None:
        if config is not None or sets or preset or set(options) - {"twin_modules", "executor"}:
            raise ConfigError("--resume: continues the run with its own config; give no config or options "
                              "(but --twin-module, --executor, --ray-address)")
        cfg = open_for_resume(resume, twin_modules=tuple(options.get("twin_modules") or ()),
                              placement=options.get("executor"), keep_failed=keep_failed)[0]
    else:
        if keep_failed:
            raise ConfigError("--keep-failed: only with --resume")
        cfg = load_config(config, options, sets=sets, preset=preset)
    if check:
        run(cfg, say=silent_say, resume=resume, check_only=True)
        # the config as checked (file, --set items and options merged): what a run would do
        return Answer(0, {"check": "OK", "config": cfg.to_dict()}, lines("config: OK (nothing was trained or written)"))
    outcome = run(cfg, say=say, progress=progress, resume=resume, wait=wait, allow_overlap=allow_overlap,
                  keep_failed=keep_failed)
    assert outcome is not None  # only check_only returns None
    if baseline is not None:  # the ranking section: this run next to the baseline's sizes
        save_baseline(outcome.run_dir, baseline)
        built = build(outcome.run_dir)
        outcome = dataclasses.replace(outcome, report_md=built.report_md, report_html=built.report_html,
                                      lead=built.lead)
    # Server max QPS and Offline samples/s per runtime, then the verdict and the reports
    return outcome_answer(outcome, before=summary_lines(outcome.run_dir),
                          after=[f"html:   {outcome.report_html}"] if outcome.report_html else [],
                          allow_failed=allow_failed, fail_invalid=fail_invalid)
