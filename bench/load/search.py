"""The search for the highest arrival rate a SUT sustains under a latency bound.

A pure function of a `probe` (one LoadGen Server run at a QPS, judged VALID or not) so its logic is
tested without LoadGen. It brackets the answer by growing or shrinking from a capacity estimate,
then bisects geometrically (QPS spans orders of magnitude across runtimes). Every step is a real
LoadGen run, so the number of runs and the total time are both bounded; the result says which
bound stopped it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

#: Bracketing steps: grow x1.5 from a VALID rate, halve from an INVALID one.
GROW, SHRINK = 1.5, 0.5
#: After an overloaded INVALID run with no VALID rate known yet, try this fraction of what it completed.
COMPLETED_FRACTION = 0.9


@dataclass(frozen=True)
class SearchResult:
    best_qps: float | None    # highest QPS judged VALID; None when no run was
    lowest_invalid: float | None
    runs: int
    stopped: str              # converged | run limit | time limit | no valid rate above the floor


def find_max_qps(probe: Callable[[float], tuple[bool, float]], start: float, *, max_runs: int, budget_s: float,
                 tolerance: float, run_cost_s: Callable[[float], float] = lambda q: 0.0,
                 floor_qps: float = 0.0, clock: Callable[[], float] = time.monotonic) -> SearchResult:
    """Bisection over LoadGen runs. `probe(qps)` returns (valid, completed QPS): valid when
    LoadGen judged the run VALID (its latency percentile under the bound among its checks). Until
    a VALID rate is known, the next try after an INVALID one is at most 90% of what the SUT
    completed there (an overloaded run measures its own capacity), so a far too high start costs
    one run, not many. `run_cost_s(qps)` predicts a run's seconds, so a run that would overrun
    `budget_s` is not started. Stops when the bracket [VALID, INVALID] is within `1 + tolerance`."""
    if start <= 0 or not math.isfinite(start):
        raise ValueError(f"start: must be a positive finite QPS, got {start!r}")
    t0 = clock()
    lo: float | None = None
    hi: float | None = None
    q, runs, stopped = start, 0, "converged"
    while True:
        if lo is not None and hi is not None and hi / lo <= 1.0 + tolerance:
            stopped = "converged"
            break
        if runs >= max_runs:
            stopped = "run limit"
            break
        if q < floor_qps:
            stopped = "no valid rate above the floor"
            break
        if clock() - t0 + run_cost_s(q) > budget_s:
            stopped = "time limit"
            break
        ok, completed = probe(q)
        runs += 1
        if ok:
            lo = q if lo is None else max(lo, q)
        else:
            hi = q if hi is None else min(hi, q)
        if hi is None:
            q = lo * GROW
        elif lo is None:
            overloaded = math.isfinite(completed) and 0 < completed < COMPLETED_FRACTION * hi
            q = COMPLETED_FRACTION * completed if overloaded else hi * SHRINK
        else:
            q = math.sqrt(lo * hi)
    return SearchResult(best_qps=lo, lowest_invalid=hi, runs=runs, stopped=stopped)
