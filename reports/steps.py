"""Step detection in a cell's history, the way asv finds the commit that made a benchmark slower.

A cell's points (one per recorded run, oldest first) are cut into levels: a point joins the current
level unless it differs from it, and a point that differs starts a new level: that point is a step.
"Differs" is decided on process-level evidence (reports/verdicts.py): the point's per-process
figures against the pooled figures of the level so far (runs believed equal are pooled, as asv
pools the runs of one commit), Welch's test on their logs, REGRESSION or IMPROVEMENT beyond
`min_effect`. Where a side has fewer than three process figures (old rows, pytest-benchmark
imports) the fallback is the headline ratio against the level's median, beyond the larger of
`min_effect` and three times the points' own spread between processes; such steps say so in their
reason. Points measured on a loaded machine, where fewer than three processes saw a fast round,
carry every valid process's p50 instead of the fast-state figures (reports/history.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from twinbench.reports.format import text
from twinbench.reports.verdicts import MIN_PROCESSES, speed_test
from twinbench.reports.compare import CELL_KEY
from twinbench.reports.history import figures_of


@dataclass(frozen=True)
class Step:
    """Where a cell's level changed: at `index` (position in its points), run `run_id`."""

    index: int
    run_id: str
    before_run: str
    verdict: str  # REGRESSION (slower) | IMPROVEMENT (faster)
    ratio: float  # new level / old level
    commits: str  # "abc1234..def5678" (+dirty), or "same commit"
    reason: str


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _short(commit: Any, dirty: Any) -> str:
    c = text(commit)[:8] or "?"
    return c + ("+dirty" if _num(dirty) == 1.0 else "")


def _differs(level_figs: list[float], level_p50: list[float], level_spread: list[float], figs: list[float],
             p50: float, spread: float, *, min_effect: float, alpha: float) -> tuple[str, float, str]:
    """(verdict, ratio, reason) of a point against the level it might belong to."""
    if len(level_figs) >= MIN_PROCESSES and len(figs) >= MIN_PROCESSES:
        t = speed_test(level_figs, figs, min_effect=min_effect, alpha=alpha)
        if t.verdict in ("REGRESSION", "IMPROVEMENT"):
            return t.verdict, t.ratio, f"{t.reason}; {len(level_figs)} vs {len(figs)} process figures"
        return "SAME", t.ratio, t.reason
    base = sorted(level_p50)[len(level_p50) // 2] if level_p50 else math.nan
    if not (base > 0 and p50 > 0):
        return "SAME", math.nan, "no figures"
    ratio = p50 / base
    noise = max([min_effect] + [3 * v for v in level_spread + [spread] if v == v])
    if abs(math.log(ratio)) > math.log1p(noise):
        verdict = "REGRESSION" if ratio > 1 else "IMPROVEMENT"
        return verdict, ratio, (f"{ratio - 1:+.1%} beyond the noise {noise:.1%} (headline p50 only: "
                                f"fewer than {MIN_PROCESSES} process figures)")
    return "SAME", ratio, "within noise"


def detect_steps(points: Any, *, min_effect: float = 0.05, alpha: float = 0.01) -> list[Step]:
    """Steps in ONE cell's points (a DataFrame from `history`, oldest first; failed points skipped)."""
    steps: list[Step] = []
    level_figs: list[float] = []
    level_p50: list[float] = []
    level_spread: list[float] = []
    prev: Any = None
    for i, row in enumerate(points.to_dict("records")):
        if text(row.get("status")) not in ("ok", "invalid"):
            continue
        figs, p50, spread = figures_of(row), _num(row.get("p50_ms")), _num(row.get("between_spread"))
        if prev is not None:
            verdict, ratio, reason = _differs(level_figs, level_p50, level_spread, figs, p50, spread,
                                              min_effect=min_effect, alpha=alpha)
            if verdict != "SAME":
                a, b = _short(prev["git_commit"], prev["git_dirty"]), _short(row["git_commit"], row["git_dirty"])
                commits = f"{a}..{b}" if a != b else ("no git commit recorded" if a == "?" else f"same commit {a}")
                if text(prev.get("config_hash")) != text(row.get("config_hash")):
                    reason += "; config changed"
                if text(prev.get("versions_hash")) != text(row.get("versions_hash")):
                    reason += "; library versions changed"
                if text(prev.get("fingerprint")) != text(row.get("fingerprint")):
                    reason += "; machine changed"
                steps.append(Step(i, text(row["run_id"]), text(prev["run_id"]), verdict, ratio, commits, reason))
                level_figs, level_p50, level_spread = [], [], []
        level_figs += figs
        level_p50.append(p50)
        if spread == spread:
            level_spread.append(spread)
        prev = row
    return steps


def cells_of(df: Any) -> list[tuple[dict[str, Any], Any]]:
    """The history rows split per cell (cell key -> its points, oldest first)."""
    out = []
    if not len(df):
        return out
    keyed = df.assign(**{f"_{c}": df[c].map(text) for c in CELL_KEY})
    for key, g in keyed.groupby([f"_{c}" for c in CELL_KEY], sort=True):
        out.append((dict(zip(CELL_KEY, key)), g.drop(columns=[f"_{c}" for c in CELL_KEY]).reset_index(drop=True)))
    return out


def cell_title(cell: dict[str, Any]) -> str:
    return (f"{cell['twin']} {cell['artifact']} @ {cell['runtime']} {cell['device']}, batch {cell['batch']}, "
            f"seq_len {cell['seq_len']}, threads {cell['threads']}")


def steps_in(points_sets: Sequence[tuple[dict[str, Any], Any]], **kw: Any) -> list[tuple[dict[str, Any], Step]]:
    return [(cell, s) for cell, pts in points_sets for s in detect_steps(pts, **kw)]
