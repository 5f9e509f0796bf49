"""`twinbench gate BASELINE CANDIDATE` and `twinbench compare BASE CAND --remeasure`: both runs'
artifacts measured again here, interleaved, *until each cell is decided*.

A CI gate on a shared runner has two wishes that pull apart: say SAME for an unchanged commit (so
nobody learns to ignore it) and catch a real slowdown, in a bounded time. Three processes a side
decide cells with a small spread and leave the others INCONCLUSIVE; a fixed larger count wastes
time on the cells that were already decided. So the measurement is sequential (Chromium Pinpoint's
idea): every cell gets `start` processes a side, interleaved with its counterpart (A, B, then B,
A ...), and only the cells still INCONCLUSIVE get more, at the planned looks of a group-sequential
design (bench/sequential.py) whose alpha is spent over the looks, so looking again does not raise
the false-positive rate. A cell stops at a verdict (REGRESSION, IMPROVEMENT, SAME), at the last
planned look (`--max-repeats` processes a side), when its repeated confidence interval places the
change between min_effect/2 and min_effect (no count would decide it), or when the time budget
(`--time-budget`) has no room for its next look. Each cell's verdict is the one of the look where
it stopped; its row says how many looks and processes it took, and why it stopped.

Both sides land in new run directories (the usual tables and reports, every process kept); the
comparison is written into the candidate's as `gate.md` and `gate.json`."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from twinbench.bench.calibration import CALIBRATION_TWIN
from twinbench.bench.cells import CellSpec
from twinbench.bench.repeats import aggregate
from twinbench.bench.runner import CellRun, run_cells
from twinbench.bench.sequential import SequentialDesign
from twinbench.commands.bench import Prepared, finish_prepared, prepare
from twinbench.commands.run import RunOutcome
from twinbench.core.atomic import write_text
from twinbench.core.benchlock import bench_lock
from twinbench.core.errors import ConfigError, RunDirError, one_line
from twinbench.core.keys import CellKey
from twinbench.core.manifest import read_manifest, update_manifest
from twinbench.reports.compare import COMPARE_COLUMNS, compare_loaded, compare_markdown, compare_runs, has_regression
from twinbench.reports.tables import RunData
from twinbench.reports.verdicts import MIN_PROCESSES, stop_reason
from twinbench.stages.measure import make_executor
from twinbench.commands.progress import silent_say
from twinbench.config import check_recorded_config
from twinbench.summary import Answer, compare_summary, dumps, lines

Say = Callable[[str], None]
Progress = Callable[[int, int, str], None]

#: Defaults a CI job gets: at most 12 processes a side per cell, at most 10 minutes of measurement.
MAX_REPEATS = 12
TIME_BUDGET_S = 600.0
#: The reason a cell stopped when the budget had no room for its next look.
OUT_OF_TIME = "time budget"


@dataclass(frozen=True)
class GateSettings:
    """How a sequential comparison judges and when it stops."""

    min_effect: float = 0.05
    alpha: float = 0.01
    max_repeats: int = MAX_REPEATS
    time_budget_s: float = TIME_BUDGET_S
    spending: str = "obrien-fleming"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"--alpha: must be in (0, 1), got {self.alpha}")
        if not (self.min_effect >= 0 and math.isfinite(self.min_effect)):
            raise ConfigError(f"--min-effect: must be >= 0, got {self.min_effect}")
        if isinstance(self.max_repeats, bool) or not isinstance(self.max_repeats, int) or self.max_repeats < MIN_PROCESSES:
            raise ConfigError(f"--max-repeats: must be an integer >= {MIN_PROCESSES}, got {self.max_repeats!r}")
        if not (self.time_budget_s > 0 and math.isfinite(self.time_budget_s)):
            raise ConfigError(f"--time-budget: must be a positive number of seconds, got {self.time_budget_s}")

    def design(self, start: int) -> SequentialDesign:
        """The looks for cells whose first look has `start` processes a side (at least 3)."""
        start = max(MIN_PROCESSES, start)
        return SequentialDesign(alpha=self.alpha, start=start, max_n=max(self.max_repeats, start),
                                spending=self.spending)


@dataclass(frozen=True)
class GateOutcome:
    base: RunOutcome
    cand: RunOutcome
    verdicts: Any  # pandas.DataFrame: compare rows (speed rows as judged at each cell's last look)
    design: SequentialDesign
    bench_s: float
    looks: int  # looks made (the most any cell had)
    processes: int  # worker processes run, both sides
    evidence: str
    report_md: Path | None = None
    report_json: Path | None = None


@dataclass
class _Cell:
    """One cell measured on both sides: its repeat-0 specs, processes a side so far, the seconds
    each of its processes took, its compare row at its last look, and why it stopped."""

    key: CellKey
    a: CellSpec
    b: CellSpec
    have: int = 0
    seconds: list[float] = field(default_factory=list)
    row: dict[str, Any] | None = None
    stop: str = ""

    def cost(self, more: int) -> float:
        """Seconds `more` processes a side would take, from those it ran (none yet: unknown, 0)."""
        return 2 * more * (statistics.fmean(self.seconds) if self.seconds else 0.0)


def _repeat(spec: CellSpec, r: int) -> CellSpec:
    """Process r of a cell (repeat 0 is the cell's own spec, with its parity inputs)."""
    if r == spec.repeat:
        return spec
    return dataclasses.replace(spec, repeat=r, cell_id=f"{spec.base_id}.r{r}", base_id=spec.base_id,
                               parity_inputs=None)


def _sequential(spec: CellSpec) -> bool:
    """A cell measured look by look: timed, single-stream, not the calibration cell (the machine's
    noise floor, the same artifact on both sides: it is measured as planned and has no verdict)."""
    return spec.timed and spec.scenario == "single-stream" and spec.art.twin != CALIBRATION_TWIN


def _pair(a: Sequence[CellSpec], b: Sequence[CellSpec]) -> tuple[dict[CellKey, _Cell], list[CellSpec]]:
    """The sequential cells both sides have, by key; every other spec (a cell one side lacks, the
    calibration cell, Server / Offline load cells) is measured once as planned."""
    first_a = {s.key: s for s in a if s.repeat == 0 and _sequential(s)}
    first_b = {s.key: s for s in b if s.repeat == 0 and _sequential(s)}
    cells = {k: _Cell(k, first_a[k], first_b[k]) for k in first_a if k in first_b}
    rest = [s for s in (*a, *b) if not (_sequential(s) and s.key in cells)]
    return cells, rest


def _interleaved(plan: list[tuple[_Cell, int]]) -> list[CellSpec]:
    """The processes of one look: repeat by repeat, each cell's baseline and candidate process next
    to each other, the order swapped every repeat (A B, B A, ...) so drift lands on both alike."""
    out: list[CellSpec] = []
    if not plan:
        return out
    for r in range(min(c.have for c, _ in plan), max(want for _, want in plan)):
        for cell, want in plan:
            if cell.have <= r < want:
                pair = (cell.a, cell.b) if r % 2 == 0 else (cell.b, cell.a)
                out += [_repeat(s, r) for s in pair]
    return out


def _in_memory(p: Prepared, runs: list[CellRun]) -> RunData:
    """A side's processes so far as the compare reads a run (no files written until the end)."""
    import pandas as pd

    results, repeats, rounds = aggregate([r for r in runs if r.spec.scenario == "single-stream"])
    manifest = read_manifest(p.run_dir, require_complete=False)
    for table in (results, repeats, rounds):
        table["run_id"] = manifest.run_id
    return RunData(path=p.run_dir, manifest=manifest, results=results, parity=pd.DataFrame(),
                   training=pd.DataFrame(), repeats=repeats, rounds=rounds)


def _judge(pa: Prepared, pb: Prepared, runs_a: list[CellRun], runs_b: list[CellRun], design: SequentialDesign,
           settings: GateSettings) -> list[dict[str, Any]]:
    """The speed rows of the compare of both sides' processes so far."""
    try:
        df = compare_loaded(_in_memory(pa, runs_a), _in_memory(pb, runs_b), min_effect=settings.min_effect,
                            alpha=settings.alpha, design=design, allow_hardware=True, allow_versions=True)
    except RunDirError:  # no cell with a timed process on both sides yet
        return []
    return [r for r in df.to_dict("records") if r["kind"] == "speed"]


def _next_look(cells: list[_Cell], design: SequentialDesign, budget_left: float) -> list[tuple[_Cell, int]]:
    """The open cells' next look, cheapest first, as many as the budget has room for; the others
    stop for lack of time."""
    wanted = []
    for cell in cells:
        later = [n for n in design.looks if n > cell.have]
        wanted.append((cell, later[0] if later else cell.have))
    plan = []
    for cell, want in sorted(wanted, key=lambda cw: cw[0].cost(cw[1] - cw[0].have)):
        cost = cell.cost(want - cell.have)
        if want > cell.have and cost <= budget_left:
            plan.append((cell, want))
            budget_left -= cost
        else:
            cell.stop = OUT_OF_TIME
    return plan


def measure_sequentially(pa: Prepared, pb: Prepared, settings: GateSettings, *, say: Say = print,
                         progress: Progress | None = None) -> tuple[list[CellRun], list[CellRun],
                                                                    dict[CellKey, _Cell], SequentialDesign, int]:
    """Measure both sides look by look until every paired cell has stopped (module docstring).
    Returns both sides' processes, the cells, the design and the number of looks made."""
    cells, rest = _pair(pa.specs, pb.specs)
    design = settings.design(max(pa.cfg.timing.repeats, pb.cfg.timing.repeats))
    executor = make_executor(pa.cfg)
    reuse = getattr(executor, "name", "") in ("local", "inprocess")  # keeps what it learnt of the machine
    runs_a: list[CellRun] = []
    runs_b: list[CellRun] = []
    t0 = time.perf_counter()
    done = planned = looks = 0
    open_cells = list(cells.values())
    with bench_lock(pb.run_dir.name, pb.run_dir, say=say):  # one benchmark at a time on this machine
        while looks == 0 or open_cells:  # the first look also measures the cells without a counterpart
            if looks == 0:
                plan = [(c, design.start) for c in open_cells]
            else:
                plan = _next_look(open_cells, design, settings.time_budget_s - (time.perf_counter() - t0))
                if not plan:
                    break
            looks += 1
            specs = _interleaved(plan) + (rest if looks == 1 else [])
            by_id = {_repeat(c.a, r).cell_id: c for c, want in plan for r in range(c.have, want)}
            planned += len(specs)
            say(f"look {looks}: {len(plan)} cell{'s' if len(plan) != 1 else ''} to "
                f"{', '.join(sorted({str(w) for _, w in plan}, key=int))} processes a side ({len(specs)} processes)")
            last = [time.perf_counter()]

            def tick(n: int, _total: int, label: str) -> None:
                now = time.perf_counter()
                cell = by_id.get(label)
                if cell is not None:
                    cell.seconds.append(now - last[0])
                last[0] = now
                if progress is not None:
                    progress(done + n, planned, label)

            runs = run_cells(specs, executor if reuse else make_executor(pa.cfg), progress=tick)
            done += len(specs)
            runs_a += [r for r in runs if r.spec.run_dir == str(pa.run_dir)]
            runs_b += [r for r in runs if r.spec.run_dir == str(pb.run_dir)]
            for cell, want in plan:
                cell.have = want
            rows = {CellKey.of(r): r for r in _judge(pa, pb, runs_a, runs_b, design, settings)}
            for cell, _ in plan:
                row = rows.get(cell.key)
                if row is None:  # neither side has a timed process: nothing more to learn
                    cell.stop = "no timed process on either side"
                    continue
                cell.row = row
                cell.stop = stop_reason(str(row["verdict"]), _num(row["ci_low"]), _num(row["ci_high"]),
                                        look=design.look_of(cell.have), design=design, min_effect=settings.min_effect)
            open_cells = [c for c in open_cells if not c.stop]
    return runs_a, runs_b, cells, design, looks


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _final_rows(full: Any, cells: dict[CellKey, _Cell]) -> Any:
    """The compare of the finished runs (parity, load) with each paired speed cell's row as judged
    at the look where it stopped, its stop reason beside it."""
    import pandas as pd

    frozen = []
    for cell in cells.values():
        if cell.row is None:
            continue
        row = dict(cell.row, stop=cell.stop)
        if cell.stop == OUT_OF_TIME and row["verdict"] == "INCONCLUSIVE":
            row["note"] = f"{row['note']}; stopped: the time budget had no room for its next look"
        elif cell.stop not in ("", "decided") and row["verdict"] == "INCONCLUSIVE":
            row["note"] = f"{row['note']}; stopped: {cell.stop}"
        frozen.append(row)
    judged = {CellKey.of(r) for r in frozen}
    others = [r for r in full.to_dict("records")
              if r["kind"] != "speed" or (CellKey.of(r) not in judged and r["twin"] != CALIBRATION_TWIN)]
    df = pd.DataFrame(frozen + others).reindex(columns=COMPARE_COLUMNS)
    df["looks"] = df["looks"].astype("Float64").round().astype("Int64")
    df.attrs.update(full.attrs)
    return df


def gate_runs(base: str | Path, cand: str | Path, overrides: Mapping[str, Any] | None = None, *,
              settings: GateSettings = GateSettings(), say: Say = silent_say, progress: Progress | None = None,
              twin_modules: Sequence[str] = ()) -> GateOutcome:
    """Both runs' artifacts measured here, interleaved and sequentially, into two new run
    directories; returns the verdicts and where everything went."""
    for path in (base, cand):
        check_recorded_config(path)
    pb = prepare(cand, overrides, say=say, twin_modules=twin_modules)
    # both sides with one timing plan (the candidate's): a different warm-up or window is a difference
    # in how the cells were measured, not in the code
    pa = prepare(base, {**dict(overrides or {}), "timing": pb.cfg.timing.to_dict()}, say=say, twin_modules=twin_modules)
    t = time.perf_counter()
    try:
        runs_a, runs_b, cells, design, looks = measure_sequentially(pa, pb, settings, say=say, progress=progress)
    except BaseException as exc:
        for p in (pa, pb):
            update_manifest(p.run_dir, p.manifest, status="failed", error=one_line(exc))
        raise
    bench_s = time.perf_counter() - t
    record = {**design.to_dict(), "time_budget_s": settings.time_budget_s, "min_effect": settings.min_effect,
              "looks_made": looks, "cells": {c.a.base_id: {"looks": design.look_of(c.have), "processes": c.have,
                                                           "stop": c.stop} for c in cells.values()}}
    for p, other in ((pa, pb), (pb, pa)):
        update_manifest(p.run_dir, p.manifest, sequential=record, compared_with=str(other.run_dir))
    oa = finish_prepared(pa, runs_a, bench_s)
    ob = finish_prepared(pb, runs_b, bench_s)
    evidence = (f"sequential, interleaved re-measurement of both runs' artifacts here ({oa.run_dir.name}, "
                f"{ob.run_dir.name}), {bench_s:.0f} s")
    full = compare_runs(oa.run_dir, ob.run_dir, min_effect=settings.min_effect, alpha=settings.alpha, design=design,
                        allow_hardware=True, allow_versions=True, evidence=evidence)
    df = _final_rows(full, cells)
    out = GateOutcome(oa, ob, df, design, bench_s, looks, len(runs_a) + len(runs_b), evidence)
    return write_gate_report(out, exit_code(df))


def exit_code(df: Any, *, fail_inconclusive: bool = False) -> int:
    """1 on a REGRESSION (and on an INCONCLUSIVE cell when asked), else 0."""
    inconclusive = fail_inconclusive and bool(len(df)) and bool((df["verdict"] == "INCONCLUSIVE").any())
    return 1 if has_regression(df) or inconclusive else 0


def main(base: Path, candidate: Path, *, fail_inconclusive: bool = False, repeats: int | None = None,
         out: str | None = None, twin_modules: Sequence[str] = (), say: Say = silent_say,
         progress: Progress | None = None, **settings: Any) -> Answer:
    """`twinbench gate`: `settings` are GateSettings fields; `repeats` the first look's processes
    (default: the runs' own, at least 3); `out` the folder of the two new run directories."""
    if repeats is not None and repeats < 1:
        raise ConfigError(f"--repeats: must be >= 1, got {repeats}")
    overrides: dict[str, Any] = {"out_dir": out} if out else {}
    if repeats:
        overrides["timing"] = {"repeats": repeats}
    given = GateSettings(**{k: v for k, v in settings.items() if v is not None})
    result = gate_runs(base, candidate, overrides, settings=given, say=say, progress=progress,
                       twin_modules=twin_modules)
    code = exit_code(result.verdicts, fail_inconclusive=fail_inconclusive)
    plural = "s" if result.looks != 1 else ""
    return Answer(code, gate_summary(result, code), lines(
        compare_markdown(result.verdicts).rstrip("\n"),
        f"gate: {result.report_md} ({result.bench_s:.0f} s measuring, {result.looks} look{plural}, "
        f"{result.processes} processes)"))


def gate_summary(out: GateOutcome, code: int) -> dict[str, Any]:
    """The JSON of a gate: compare's summary, the design, and what the measurement cost."""
    return {**compare_summary(out.verdicts, code, out.evidence), "command": "gate",
            "sequential": out.design.to_dict(), "bench_s": round(out.bench_s, 1), "looks": out.looks,
            "processes": out.processes, "base_run": str(out.base.run_dir), "candidate_run": str(out.cand.run_dir)}


def write_gate_report(out: GateOutcome, code: int) -> GateOutcome:
    """gate.md and gate.json in the candidate's new run directory."""
    md = out.cand.run_dir / "gate.md"
    js = out.cand.run_dir / "gate.json"
    write_text(md, compare_markdown(out.verdicts))
    write_text(js, dumps(gate_summary(out, code), indent=1) + "\n")
    return dataclasses.replace(out, report_md=md, report_json=js)

