"""What a reader of a run came for, computed once: the parity verdict, the fastest runtime per shape
with its margin, the cells that failed or measured too noisily, and the changes against a
baseline. The report opens with it (reports/sections.py `lead_blocks`), `run`, `bench` and
`report --summary` print its one line (`summary_line`), and the `--json` objects carry it.

The facts are the run directory's own (its results and parity tables), so the line, the JSON and
the report never disagree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from twinbench.bench.calibration import CALIBRATION_TWIN
from twinbench.bench.parity.verdict import overall_verdict
from twinbench.reports.format import fnum, fsci, is_missing, text
from twinbench.reports.pytest_benchmark import is_pytest_run, own_label

#: Cell statuses in the order a reader weighs them.
STATUSES = ("ok", "invalid", "failed", "skipped")
#: Speed verdicts of a compare, worst first.
CHANGES = ("REGRESSION", "IMPROVEMENT", "INCONCLUSIVE", "SAME")


@dataclass(frozen=True)
class Fastest:
    """The fastest configuration of one shape and how far ahead of the next it is."""

    shape: str  # "lstm, batch 1, seq_len 64" (a pytest-benchmark group for converted files)
    winner: str  # "ort-cpu (torch-dynamo)"
    runtime: str
    p50_ms: float
    runner_up: str | None = None
    runner_up_p50_ms: float | None = None
    margin: float | None = None  # runner-up p50 / winner p50
    within_noise: bool | None = None  # the margin is below what two such cells can tell apart
    contenders: int = 1


@dataclass(frozen=True)
class Problem:
    """A cell that ran but gave no trustworthy figure: failed (crash, timeout, error) or invalid (noisy)."""

    status: str
    cell: str
    reason: str


@dataclass(frozen=True)
class Changes:
    """The run against a baseline (reports/compare.py rows): verdict counts and the cells that moved."""

    base: str
    verdicts: dict[str, int]
    parity_changes: int
    moved: tuple[dict[str, Any], ...] = ()  # REGRESSION then IMPROVEMENT speed cells, largest change first


@dataclass(frozen=True)
class Lead:
    run_id: str
    parity: str  # PASS | FAIL | SKIP | NONE (no checks in the run)
    parity_checks: dict[str, int] = field(default_factory=dict)
    parity_failures: tuple[str, ...] = ()
    cells: dict[str, int] = field(default_factory=dict)
    fastest: tuple[Fastest, ...] = ()
    problems: tuple[Problem, ...] = ()
    changes: Changes | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counts(values: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.map(text).value_counts().items()}


def _parity(run: Any) -> tuple[str, dict[str, int], tuple[str, ...]]:
    df = run.parity
    if df is None or not len(df):
        return "NONE", {}, ()
    failures = []
    bad = df[df["verdict"].map(text).isin(["FAIL", "ERROR"])]
    for (twin, art, rt), g in bad.groupby([bad["twin"].map(text), bad["artifact"].map(text),
                                           bad["runtime"].map(text)], sort=True):
        worst = g["max_abs"].astype(float).max() if g["max_abs"].notna().any() else None
        failures.append(f"{twin}/{art} on {rt}: {text(g['verdict'].iloc[0])} (max abs {fsci(worst)})")
    return overall_verdict(df), _counts(df["verdict"]), tuple(failures)


def _user_cells(results: Any) -> Any:
    return results[results["twin"].map(text) != CALIBRATION_TWIN] if len(results) else results


def _label(row: dict[str, Any], varies: set[str]) -> str:
    """A configuration's name: runtime and artifact, plus whatever else differs within the shape."""
    extra = [threads(row.get(c)) if c == "threads" else text(row.get(c)) for c in ("device", "threads")
             if c in varies]
    inner = ", ".join([text(row.get("artifact"))] + extra)
    return f"{text(row.get('runtime'))} ({inner})"


def _noise(row: dict[str, Any]) -> float | None:
    """The smallest relative change this cell's figure can show: its MDE, else its between-process spread."""
    for col in ("mde", "between_spread"):
        v = row.get(col)
        if not is_missing(v):
            return float(v)
    return None


def _fastest_of(shape: str, rows: list[dict[str, Any]], label: Any, pytest_run: bool = False) -> Fastest:
    """`label(row)` names a configuration; the summary line counts wins per runtime (per benchmark
    name for a pytest-benchmark file, whose rows have no runtime of ours)."""
    rows = sorted(rows, key=lambda r: float(r["p50_ms"]))
    best = rows[0]
    runtime = label(best) if pytest_run else text(best.get("runtime")) or label(best)
    out = Fastest(shape=shape, winner=label(best), runtime=runtime, p50_ms=float(best["p50_ms"]),
                  contenders=len(rows))
    if len(rows) == 1:
        return out
    second = rows[1]
    margin = float(second["p50_ms"]) / out.p50_ms if out.p50_ms > 0 else None
    noise = [n for n in (_noise(best), _noise(second)) if n is not None]
    within = None if margin is None or not noise else (margin - 1.0) < max(noise)
    return Fastest(shape=shape, winner=out.winner, runtime=out.runtime, p50_ms=out.p50_ms,
                   runner_up=label(second), runner_up_p50_ms=float(second["p50_ms"]), margin=margin,
                   within_noise=within, contenders=len(rows))


def fastest(run: Any) -> tuple[Fastest, ...]:
    """Per shape (twin x batch x seq_len, per kind of machine), the fastest ok cell and its margin
    over the next; per group for a pytest-benchmark file."""
    df = _user_cells(run.results)
    if not len(df):
        return ()
    df = df[(df["status"].map(text) == "ok") & df["p50_ms"].notna()]
    rows = df.to_dict("records")
    if is_pytest_run(run):
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(own_label(r)[0] or "no group", []).append(r)
        return tuple(_fastest_of(f"group {g}", rs, lambda r: " ".join(p for p in own_label(r)[1:] if p), True)
                     for g, rs in sorted(groups.items()))
    varies = {c for c in ("device", "threads") if c in df and df[c].map(text).nunique() > 1}
    machines = "machine" in df and df["machine"].map(text).nunique() > 1
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key = (text(r.get("twin")), text(r.get("batch")), text(r.get("seq_len")),
               text(r.get("machine")) if machines else "")
        shapes.setdefault(key, []).append(r)

    def order(key: tuple[str, ...]) -> tuple[Any, ...]:
        return key[0], int(key[1] or 0), int(key[2] or 0), key[3]

    out = []
    for key in sorted(shapes, key=order):
        twin, batch, seq, machine = key
        shape = f"{twin}, batch {batch}, seq_len {seq}" + (f" @ {machine}" if machine else "")
        out.append(_fastest_of(shape, shapes[key], lambda r: _label(r, varies)))
    return tuple(out)


def threads(value: Any) -> str:
    """"1 thread", "4 threads"."""
    return f"{text(value)} thread" + ("" if text(value) == "1" else "s")


def _cell_name(row: dict[str, Any], pytest_run: bool) -> str:
    if pytest_run:
        return " ".join(p for p in own_label(row) if p)
    return (f"{text(row.get('twin'))}/{text(row.get('artifact'))} on {text(row.get('runtime'))} "
            f"{text(row.get('device'))}, batch {text(row.get('batch'))}, seq_len {text(row.get('seq_len'))}, "
            f"{threads(row.get('threads'))}")


def problems(run: Any) -> tuple[Problem, ...]:
    """Failed cells first, then invalid ones (skipped cells are planned absences, counted only)."""
    df = _user_cells(run.results)
    if not len(df):
        return ()
    pytest_run = is_pytest_run(run)
    out = []
    for status in ("failed", "invalid"):
        for r in df[df["status"].map(text) == status].to_dict("records"):
            out.append(Problem(status, _cell_name(r, pytest_run), text(r.get("error")) or "-"))
    return tuple(out)


def _log_size(ratio: float) -> float:
    """How big a change is, either way (1.3x and 1/1.3x alike)."""
    return abs(math.log(ratio)) if ratio > 0 and math.isfinite(ratio) else 0.0


def changes(df: Any) -> Changes | None:
    """The rows of `compare_loaded(baseline, run)` as what changed; None without a baseline."""
    if df is None:
        return None
    speed = df[df["kind"] == "speed"]
    counts = {v: int((speed["verdict"] == v).sum()) for v in CHANGES if (speed["verdict"] == v).any()}
    order = {v: i for i, v in enumerate(CHANGES)}
    moved = speed[speed["verdict"].isin(["REGRESSION", "IMPROVEMENT"])]
    moved = moved.assign(_o=moved["verdict"].map(order), _size=(moved["ratio"].astype(float).map(_log_size)))
    moved = moved.sort_values(["_o", "_size"], ascending=[True, False], kind="stable")
    keep = ["verdict", "twin", "artifact", "runtime", "device", "batch", "seq_len", "threads", "ratio",
            "base_p50_ms", "cand_p50_ms", "note", "benchmark", "group", "params",
            "n_base", "n_cand", "looks", "ci_low", "ci_high"]  # the evidence a verdict rests on
    rows = tuple({k: r.get(k) for k in keep if k in r} for r in moved.to_dict("records"))
    parity = df[(df["kind"] == "parity") & (df["verdict"] != "SAME")]
    return Changes(base=str(df.attrs.get("base") or "baseline"), verdicts=counts, parity_changes=len(parity),
                   moved=rows)


def lead(run: Any, compared: Any = None) -> Lead:
    """The lead of a loaded run (reports/tables.py `load_run`); `compared`: the rows of
    `compare_loaded(baseline, run)` when a baseline was given."""
    verdict, checks, failures = _parity(run)
    cells = _user_cells(run.results)
    counts = _counts(cells["status"]) if len(cells) else {}
    ordered = {s: counts[s] for s in STATUSES if s in counts} | {s: n for s, n in counts.items() if s not in STATUSES}
    return Lead(run_id=run.run_id, parity=verdict, parity_checks=checks, parity_failures=failures, cells=ordered,
                fastest=fastest(run), problems=problems(run), changes=changes(compared))


def _fastest_phrase(found: tuple[Fastest, ...]) -> str:
    if not found:
        return "no timed cells"
    if len(found) == 1:
        f = found[0]
        ahead = f", {f.margin:.2f}x ahead of {f.runner_up}" if f.margin is not None else ""
        noise = " (within noise)" if f.within_noise else ""
        return f"fastest at {f.shape}: {f.winner} {fnum(f.p50_ms)} ms{ahead}{noise}"
    wins: dict[str, int] = {}
    for f in found:
        wins[f.runtime] = wins.get(f.runtime, 0) + 1
    ranked = sorted(wins.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{rt} {n}/{len(found)}" for rt, n in ranked[:3])
    more = f", {len(ranked) - 3} more" if len(ranked) > 3 else ""
    return f"fastest per shape: {shown}{more}"


def summary_line(lead: Lead) -> str:
    """One line for a CI job log: verdict, cells by status, who is fastest, what changed."""
    parity = "no parity checks" if lead.parity == "NONE" else f"parity {lead.parity}"
    if lead.parity_checks:
        parity += f" ({sum(lead.parity_checks.values())} checks"
        parity += f", {len(lead.parity_failures)} failing)" if lead.parity_failures else ")"
    total = sum(lead.cells.values())
    cells = f"{total} cells: " + ", ".join(f"{n} {s}" for s, n in lead.cells.items()) if total else "no cells"
    parts = [f"twinbench {lead.run_id}", parity, cells, _fastest_phrase(lead.fastest)]
    if lead.changes is not None:
        counted = ", ".join(f"{n} {v}" for v, n in lead.changes.verdicts.items()) or "no speed cells in common"
        if lead.changes.parity_changes:
            counted += f", {lead.changes.parity_changes} parity change(s)"
        parts.append(f"vs {lead.changes.base}: {counted}")
    return " | ".join(parts)
