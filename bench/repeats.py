"""Figures over processes: from one row per worker process to one headline row per cell.

Each cell is measured in `repeats` fresh processes, each in rounds with the machine-state probe
timed before every round (bench/timing.py `measure_rounds`, bench/probe.py). Here:

1. every round is labelled *fast* or *slow* by its probe against the run's own fast level (a low
   quantile of every probe in the run); a VM's slow state makes the probe ~1.5-2x slower;
2. a process's figure is the lowest of its fast rounds' medians (its fast-state p50);
3. a cell's headline p50 is the median of its processes' figures, with their between-process
   spread and the minimum detectable effect (MDE) of comparing two such runs.

So the headline does not depend on how long the machine happened to spend in each state, and a
compare (reports/compare.py) tests process-level figures, state for state. docs/measurement.md has
the method and the evidence."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from twinbench.core.layout import RunDir
from twinbench.core.schema import KEY, REPEATS_COLUMNS, RESULTS_COLUMNS, ROUNDS_COLUMNS
from twinbench.bench.stats import between_spread, mde, summarize
from twinbench.bench.timing import STATE_BAND

#: The fast level: this low quantile of all probes of a run. Low, because a run may spend most of
#: its time in the slow state (seen here: 25 of 30 rounds); the probe is a best of three, so its
#: low values are not noise.
FAST_QUANTILE = 0.02


@dataclass(frozen=True)
class ProcessFigure:
    """One worker process of a cell: its fast-state p50 (NaN without a fast round) and state mix."""

    fast_p50_ms: float
    rounds: int
    fast_rounds: int


def fast_level(probes_us: Iterable[float]) -> float:
    """The probe time of the machine's fast state in this run (NaN without probes)."""
    p = np.asarray(list(probes_us), dtype=np.float64)
    p = p[np.isfinite(p) & (p > 0)]
    return float(np.quantile(p, FAST_QUANTILE)) if p.size else math.nan


def is_fast(probe_us: Any, level: float) -> Any:
    return np.asarray(probe_us, dtype=np.float64) <= level * (1.0 + STATE_BAND)


def process_figure(round_p50_ms: Sequence[float], fast: Sequence[bool]) -> ProcessFigure:
    """A process's figure: the lowest median among its fast rounds. The machine's states only add
    time, and at a change of state the probe and the call do not flip together (seen here: two
    rounds with a fast probe and 23-27 us calls, then 17.3 us), so the lowest fast round is the
    one that ran wholly in the fast state. A round's median of hundreds of calls is precise to
    ~0.5%, so taking the lowest adds little bias (docs/measurement.md)."""
    p = np.asarray(round_p50_ms, dtype=np.float64)
    f = np.asarray(fast, dtype=bool)
    value = float(np.min(p[f])) if f.any() else math.nan
    return ProcessFigure(value, int(p.size), int(f.sum()))




def _load(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None


@dataclass
class _Process:
    """One worker process of a cell while its figures are formed: its run, its samples and rounds
    (None when it measured nothing), and per round the probe (us), the median (ms) and the state."""

    run: Any  # bench.runner.CellRun
    ns: np.ndarray | None = None
    rounds: np.ndarray | None = None  # int64 [rounds, 4]: probe_py_ns, probe_np_ns, first, count
    starts: np.ndarray | None = None  # first sample of each round (cumulative counts)
    p50_ms: np.ndarray | None = None
    fast: np.ndarray | None = None
    record: dict[str, Any] | None = None  # its repeats-table row

    @property
    def measured(self) -> bool:
        return self.ns is not None


def _read_process(run: Any) -> _Process:
    spec, row = run.spec, run.row
    proc = _Process(run)
    if not spec.timed or row.get("status") not in ("ok", "invalid"):
        return proc
    files = RunDir(spec.run_dir, spec.cells).cell(spec.cell_id)
    ns = _load(files.samples)
    if ns is None:
        return proc
    rounds = _load(files.rounds)
    if rounds is None or rounds.size == 0:  # a worker of an older version: one round, no probe
        rounds = np.array([[0, 0, 0, ns.size]], dtype=np.int64)
    rounds = np.asarray(rounds, dtype=np.int64).reshape(-1, 4)
    counts = rounds[:, 3]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    proc.ns, proc.rounds, proc.starts = ns, rounds, starts
    proc.p50_ms = np.array([float(np.median(ns[a:a + c])) / 1e6 if c else math.nan
                            for a, c in zip(starts.tolist(), counts.tolist())])
    return proc


def aggregate(runs: Sequence[Any]) -> tuple[Any, Any, Any]:
    """(results, repeats, rounds) DataFrames from the CellRuns of every worker process. Processes
    are grouped into cells by their spec's `group` (one dict lookup each), so the cost grows
    linearly with the processes. Untimed and failed processes pass through; cells of one process
    keep their own figures, marked as such."""
    import pandas as pd

    procs = [_read_process(run) for run in runs]
    probes = [p.rounds[:, 0] / 1e3 for p in procs if p.measured]
    all_probes = np.concatenate(probes) if probes else np.zeros(0)
    level = fast_level(all_probes)
    no_probe = bool(all_probes.size) and bool((all_probes <= 0).all())  # none recorded: every round counts
    round_rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str, str], list[_Process]] = {}
    for p in procs:
        spec, row = p.run.spec, p.run.row
        groups.setdefault(spec.group, []).append(p)
        fig = ProcessFigure(math.nan, 0, 0)
        if p.measured:
            p.fast = np.ones(len(p.rounds), dtype=bool) if no_probe else is_fast(p.rounds[:, 0] / 1e3, level)
            fig = process_figure(p.p50_ms, p.fast)
            key = {**{k: row.get(k) for k in KEY}, "machine": row.get("machine") or spec.machine}
            for i, ((py_ns, np_ns, _first, count), p50, fast) in enumerate(zip(p.rounds.tolist(), p.p50_ms.tolist(),
                                                                              p.fast.tolist())):
                round_rows.append({**key, "repeat": spec.repeat, "round": i, "probe_py_us": py_ns / 1e3,
                                   "probe_np_us": np_ns / 1e3, "count": int(count), "p50_ms": p50, "fast": fast})
        p.record = {**{c: row.get(c) for c in RESULTS_COLUMNS}, "repeat": spec.repeat,
                    "fast_p50_ms": fig.fast_p50_ms, "rounds": fig.rounds, "_fast_rounds": fig.fast_rounds}
        if p.measured and fig.fast_rounds:
            _judge_fast_state(p, spec.plan)
    results = [_headline(members) for members in groups.values()]
    repeats_df = pd.DataFrame([p.record for p in procs]).drop(columns=["_fast_rounds"], errors="ignore")
    return (pd.DataFrame(results, columns=RESULTS_COLUMNS), repeats_df.reindex(columns=REPEATS_COLUMNS),
            pd.DataFrame(round_rows, columns=ROUNDS_COLUMNS))


def _fast_spans(p: _Process) -> list[tuple[int, int]]:
    """(first sample, count) of a process's fast rounds."""
    keep = p.fast if p.fast is not None else np.zeros(0, dtype=bool)
    return [(int(a), int(c)) for a, c, f in zip(p.starts.tolist(), p.rounds[:, 3].tolist(), keep.tolist()) if f]


def _judge_fast_state(p: _Process, plan: Any) -> None:
    """The within-process spread rule, applied round by round to the fast rounds (the median of
    their IQR / median): a process whose rounds sat in two states has a wide pooled IQR that says
    nothing about how steady each measurement was, and a state can change inside a round too."""
    proc = p.record
    spreads = []
    for a, n in _fast_spans(p):
        if n >= 4:
            q25, q50, q75 = np.percentile(p.ns[a:a + n], [25, 50, 75])
            spreads.append((q75 - q25) / q50 if q50 > 0 else math.nan)
    proc["spread"] = float(np.nanmedian(spreads)) if spreads else math.nan
    if proc.get("status") in ("ok", "invalid"):
        reasons = []
        if int(proc.get("iterations") or 0) < plan.min_iters:
            reasons.append(f"{proc.get('iterations')} iterations < min_iters {plan.min_iters}")
        if math.isfinite(proc["spread"]) and proc["spread"] > plan.max_spread:
            reasons.append(f"fast-state spread (IQR/median) {proc['spread']:.3f} > max_spread {plan.max_spread}")
        proc["status"], proc["error"] = ("invalid", "invalid: " + "; ".join(reasons)) if reasons else ("ok", "")


def _headline(members: list[_Process]) -> dict[str, Any]:
    """One results row for a cell from its processes (see the module docstring)."""
    procs = [m.record for m in members]
    spec = members[0].run.spec
    first = dict(procs[0])
    measured = [i for i, m in enumerate(members) if procs[i].get("status") in ("ok", "invalid") and m.measured]
    row = {c: first.get(c) for c in RESULTS_COLUMNS}
    row["repeats"] = len(procs)
    if not measured or not spec.timed:
        return row
    valid = [i for i in measured if procs[i].get("status") == "ok"] or measured
    figures = [procs[i]["fast_p50_ms"] for i in valid if math.isfinite(procs[i]["fast_p50_ms"])]
    fast_state = bool(figures)
    if not fast_state:
        figures = [procs[i]["p50_ms"] for i in valid]
    parts = []
    for i in valid:
        m = members[i]
        spans = _fast_spans(m) if fast_state else list(zip(m.starts.tolist(), m.rounds[:, 3].tolist()))
        parts += [m.ns[a:a + c] for a, c in spans]
    pooled = np.concatenate(parts) if parts else np.concatenate([members[i].ns for i in valid])
    batch = int(row.get("batch") or 1)
    row.update(summarize(pooled, batch))
    p50 = float(np.median(figures))
    row["p50_ms"] = p50
    row["throughput_sps"] = batch / (p50 / 1e3) if p50 > 0 else math.nan
    row["iterations"] = int(sum(members[i].ns.size for i in measured))
    row["measured_s"] = float(sum(members[i].ns.sum() for i in measured)) / 1e9
    for col, how in (("cold_load_ms", np.median), ("cold_first_run_ms", np.median), ("peak_rss_mb", np.max)):
        vals = [procs[i].get(col) for i in measured if procs[i].get(col) is not None]
        vals = [float(v) for v in vals if math.isfinite(float(v))]
        row[col] = float(how(vals)) if vals else math.nan
    spread = between_spread(figures)
    row["between_spread"] = spread
    row["mde"] = mde(spread, len(figures))
    all_rounds = sum(int(procs[i]["rounds"]) for i in measured)
    row["state_fast"] = sum(int(procs[i]["_fast_rounds"]) for i in measured) / all_rounds if all_rounds else math.nan
    row["headline"] = (f"median of {len(figures)} process median{'s' if len(figures) != 1 else ''}, "
                       + ("fast state" if fast_state else "all states (no fast-state round)"))
    plan = spec.plan
    reasons = []
    bad = [procs[i].get("error") for i in measured if procs[i].get("status") != "ok"]
    if bad and 2 * len(bad) > len(measured):  # a minority of odd processes is left out, not fatal
        reasons.append(f"{len(bad)} of {len(measured)} processes invalid ({bad[0]})")
    elif bad:
        row["headline"] += f"; {len(bad)} of {len(measured)} processes left out ({bad[0]})"
    if len(figures) >= 3 and math.isfinite(spread) and spread > plan.max_between:
        reasons.append(f"between-process spread {spread:.1%} > max_between {plan.max_between:.0%}")
    if len(measured) < len(procs):
        reasons.append(f"{len(procs) - len(measured)} of {len(procs)} processes failed")
    if reasons:
        row["status"], row["error"] = "invalid", "invalid: " + "; ".join(reasons)
    else:
        row["status"], row["error"] = "ok", ""
    return row


def _text_keys(df: Any, cols: Sequence[str]) -> list[tuple[str, ...]]:
    """Each row's key as a tuple of texts (a column at a time: linear, no per-row frames)."""
    def text(v: Any) -> str:
        if v is None or v is getattr(__import__("pandas"), "NA") or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    columns = [[text(v) for v in (df[c].tolist() if c in df else [None] * len(df))] for c in cols]
    return list(zip(*columns))


def process_figures(repeats: Any, rounds: Any, level: float, key_cols: Sequence[str]) -> dict[tuple, dict[str, Any]]:
    """Per cell (tuple of `key_cols` as text): the fast-state figures of its valid processes under
    the fast `level` given (a compare uses one level for both runs), how many processes there were
    and how many ran in that state. Reads only the repeats and rounds tables, each once."""
    out: dict[tuple, dict[str, Any]] = {}
    if repeats is None or rounds is None or not len(repeats) or not len(rounds):
        return out
    probe = rounds["probe_py_us"].to_numpy(dtype=np.float64)
    fast = (is_fast(probe, level) | (probe <= 0)).tolist()
    by_proc: dict[tuple, list[float]] = {}
    for k, f, v in zip(_text_keys(rounds, [*key_cols, "repeat"]), fast, rounds["p50_ms"].tolist()):
        if f:
            by_proc.setdefault(k, []).append(float(v))
    statuses, errors = repeats["status"].tolist(), repeats["error"].tolist()
    for k, status, error in zip(_text_keys(repeats, [*key_cols, "repeat"]), statuses, errors):
        cell = out.setdefault(k[:-1], {"figures": [], "processes": 0, "fast": 0, "invalid": ""})
        cell["processes"] += 1
        if status != "ok":
            cell["invalid"] = cell["invalid"] or str(error or status)
            continue
        vals = by_proc.get(k)
        if vals:
            cell["fast"] += 1
            cell["figures"].append(process_figure(vals, [True] * len(vals)).fast_p50_ms)
    return out
