"""`twinbench bench`: measure the artifacts of an existing run directory again, on this machine,
into a new run directory; no training, no export.

It is how CI compares a runtime upgrade on the same model, how a run directory carried to another
machine is measured there for `twinbench hardware`, and how A/A is checked cheaply. With two run
directories, `remeasure_interleaved` measures both sets of artifacts in one invocation, repeat by
repeat (A's cells, then B's, then A's again...), so the machine's drift lands on both alike: the
way asv compares two commits."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from twinbench.config import RunConfig, config_from_mapping
from twinbench.core.errors import RunDirError, one_line
from twinbench.core.layout import RunDir
from twinbench.core.manifest import create_run_dir, update_manifest

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Prepared:
    """A new run directory holding a copy of a source run's artifacts, and the cells to measure."""

    cfg: RunConfig
    run_dir: Path
    manifest: dict[str, Any]
    specs: list[Any]
    skipped: list[dict[str, Any]]
    t0: float


def source_config(source: Path) -> dict[str, Any]:
    """The source run's config as it ran (RunDirError when the directory is not a run)."""
    layout = RunDir(source)
    try:
        manifest = json.loads(layout.manifest.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{source}: not a run directory (no manifest.json)") from None
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{source}/manifest.json: unreadable ({one_line(exc)})") from None
    if not layout.artifacts.is_dir():
        raise RunDirError(f"{source}: no artifacts/ folder to measure")
    config = dict(manifest.get("config") or {})
    config.pop("run_id", None)
    return config


def _seq_lens(source: Path, config: Mapping[str, Any]) -> list[int]:
    """The source's sequence lengths: its config's, else those its results were measured at."""
    if config.get("seq_lens"):
        return [int(s) for s in config["seq_lens"]]
    from twinbench.reports.tables import read_table

    try:
        res = read_table(source, "results", required=False)
        lens = sorted({int(v) for v in res["seq_len"].dropna()}) if len(res) else []
    except RunDirError:
        lens = []
    return lens or [16]


def prepare(source: str | Path, overrides: Mapping[str, Any] | None = None, *, say: Say = print) -> Prepared:
    """Copy the source's artifacts and data into a new run directory and plan its cells with the
    source's matrix, updated by `overrides` (a config mapping: runtimes, batches, timing, ...)."""
    from twinbench.bench.cells import plan_cells
    from twinbench.bench.timing import TimingPlan
    from twinbench.exporters.artifact import Artifact

    source = Path(source)
    raw = source_config(source)
    raw.update({k: v for k, v in (overrides or {}).items() if v not in (None, (), [])})
    for key in ("timing", "runtime_settings"):
        if overrides and overrides.get(key):
            raw[key] = {**dict((source_config(source).get(key) or {})), **dict(overrides[key])}
    cfg = config_from_mapping({k: v for k, v in raw.items() if k in RunConfig.__dataclass_fields__})
    t0 = time.perf_counter()
    run_dir, manifest = create_run_dir(cfg.out_dir, cfg.to_dict(), cfg.run_id)
    update_manifest(run_dir, manifest, source_run=str(source.resolve()), kind="bench")
    layout, src = RunDir(run_dir), RunDir(source)
    shutil.copytree(src.artifacts, layout.artifacts, dirs_exist_ok=True)
    if (source / "data").is_dir():
        shutil.copytree(source / "data", run_dir / "data", dirs_exist_ok=True)
    artifacts = []
    for twin_dir in layout.twin_dirs():
        for side in sorted(twin_dir.glob("*.json")):
            try:
                art = Artifact.read_sidecar(side)
            except (OSError, ValueError, TypeError) as exc:
                raise RunDirError(f"{side}: unreadable artifact sidecar ({one_line(exc)})") from None
            if art.twin != "_calibration":  # the planner adds its own calibration cell
                artifacts.append(art)
    if not artifacts:
        raise RunDirError(f"{source}/artifacts: no artifacts to measure")
    specs, skipped = plan_cells(
        run_dir=run_dir, artifacts=artifacts, runtimes=list(cfg.runtimes), devices=list(cfg.devices),
        batches=list(cfg.batches), seq_lens=_seq_lens(source, raw), threads=list(cfg.threads),
        plan=TimingPlan(**dict(cfg.timing)), settings={k: dict(v) for k, v in cfg.runtime_settings.items()},
        twin_modules=list(cfg.twin_modules), parity=cfg.parity, calibration=cfg.calibration,
        scenarios=list(cfg.scenarios), load=dict(cfg.load))
    say(f"run directory: {run_dir} (re-measuring {source})")
    return Prepared(cfg, run_dir, manifest, specs, skipped, t0)


def _finish(p: Prepared, processes: Any, bench_s: float) -> Any:
    from twinbench.pipeline import RunOutcome, finish_run
    from twinbench.reports import build_reports

    try:
        verdict = finish_run(p.cfg, p.run_dir, p.manifest, p.specs, processes, extra_rows=p.skipped,
                             timings={"bench_s": round(bench_s, 2)}, t0=p.t0)
    except BaseException as exc:
        update_manifest(p.run_dir, p.manifest, status="failed", error=one_line(exc))
        raise
    md, html = build_reports(p.run_dir)
    return RunOutcome(run_dir=p.run_dir, parity_verdict=verdict, report_md=md, report_html=html)


def remeasure(source: str | Path, overrides: Mapping[str, Any] | None = None, *, say: Say = print,
              progress: Progress | None = None) -> Any:
    """Measure a run directory's artifacts again into a new run directory (RunOutcome)."""
    from twinbench.bench.runner import run_cells
    from twinbench.pipeline import make_executor

    p = prepare(source, overrides, say=say)
    try:
        say(f"benchmarking {len(p.specs)} cells ({len(p.skipped)} skipped) in fresh worker processes")
        t = time.perf_counter()
        from twinbench.core.benchlock import bench_lock

        with bench_lock(p.run_dir.name, p.run_dir, say=say):  # one benchmark at a time on this machine
            processes = run_cells(p.specs, make_executor(p.cfg), progress=progress)
    except BaseException as exc:
        update_manifest(p.run_dir, p.manifest, status="failed", error=one_line(exc))
        raise
    return _finish(p, processes, time.perf_counter() - t)


def interleave(a: list[Any], b: list[Any]) -> list[Any]:
    """A's and B's cells repeat by repeat: A r0, B r0, A r1, B r1, ... (each keeps its own order)."""
    out: list[Any] = []
    for r in sorted({s.repeat for s in a} | {s.repeat for s in b}):
        out += [s for s in a if s.repeat == r] + [s for s in b if s.repeat == r]
    return out


def remeasure_interleaved(base: str | Path, cand: str | Path, overrides: Mapping[str, Any] | None = None, *,
                          say: Say = print, progress: Progress | None = None) -> tuple[Any, Any]:
    """Both runs' artifacts measured again in one invocation, interleaved; two new run directories."""
    import pandas as pd

    from twinbench.bench.runner import run_cells
    from twinbench.pipeline import make_executor

    pa = prepare(base, overrides, say=say)
    pb = prepare(cand, overrides, say=say)
    specs = interleave(pa.specs, pb.specs)
    say(f"benchmarking {len(specs)} cells of both runs, interleaved")
    t = time.perf_counter()
    try:
        from twinbench.core.benchlock import bench_lock

        with bench_lock(pa.run_dir.name, pa.run_dir, say=say):  # one benchmark at a time on this machine
            processes = run_cells(specs, make_executor(pa.cfg), progress=progress)
    except BaseException as exc:
        for p in (pa, pb):
            update_manifest(p.run_dir, p.manifest, status="failed", error=one_line(exc))
        raise
    bench_s = time.perf_counter() - t
    outcomes = []
    for p in (pa, pb):
        mine = {(s.cells, s.cell_id) for s in p.specs}
        keep = [i for i, s in enumerate(specs) if s.run_dir == str(p.run_dir) and (s.cells, s.cell_id) in mine]
        order = {(s.cells, s.cell_id): i for i, s in enumerate(p.specs)}
        keep.sort(key=lambda i: order[(specs[i].cells, specs[i].cell_id)])
        rows = processes.iloc[keep].reset_index(drop=True) if isinstance(processes, pd.DataFrame) else processes
        outcomes.append(_finish(p, rows, bench_s))
    return outcomes[0], outcomes[1]
