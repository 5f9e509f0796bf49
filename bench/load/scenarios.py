"""Server and Offline, each as a short series of LoadGen runs on one cell's SUT.

Every LoadGen run becomes one load-table row as soon as it ends (`LoadRuns.once`), so a cell killed
half-way still leaves the runs it finished. The choice of each next QPS is ours (search.py); the
verdict on each run is LoadGen's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from twinbench.bench.load.logs import LoadGenResult
from twinbench.bench.load.search import find_max_qps
from twinbench.bench.load.settings import LoadSettings
from twinbench.bench.load.streams import open_streams
from twinbench.bench.load.sut import LoadSut
from twinbench.core.rows import load_row

if TYPE_CHECKING:
    from twinbench.bench.cells import CellSpec

#: The search starts at this fraction of the capacity estimate (every lane busy, no LoadGen).
START_FRACTION = 0.7
#: One extra Server run at this fraction of the max QPS found: the flat part of the latency curve.
CURVE_FRACTION = 0.3
#: Seconds a LoadGen run costs beyond its scheduled duration (start, log writing), for budgeting.
RUN_OVERHEAD_S = 0.3


@dataclass
class LoadRuns:
    """One cell's LoadGen runs: numbers them, keeps their logs apart, turns each into a row."""

    spec: "CellSpec"
    settings: LoadSettings
    data: np.ndarray
    logs: Path
    rel: Callable[[Path], str]
    emit: Callable[[dict[str, Any]], None]
    index: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def once(self, sut: LoadSut, step: str, qps: float, *, streams: int, batch: int,
             runtime_settings: dict[str, Any]) -> LoadGenResult:
        s, scenario = self.settings, self.spec.scenario
        self.index += 1
        log_dir = self.logs / f"{self.index:02d}-{scenario}-{step}"
        server = scenario == "server"
        min_queries = s.queries if server else 1
        res = sut.run(scenario, qps, log_dir, duration_s=s.duration_s, min_queries=min_queries,
                      latency_bound_ms=s.latency_bound_ms, percentile=s.percentile, max_batch=batch,
                      limit_s=s.limit_s(scenario, qps))
        lat = res.latency_ms
        row = load_row(
            dict(self.spec.key_row(), batch=batch), scenario=scenario, step=step, run_index=self.index,
            streams=streams, target_qps=float(qps), achieved_qps=res.qps, scheduled_qps=res.scheduled_qps,
            queries=res.queries, samples=res.samples, duration_s=s.duration_s, min_queries=min_queries,
            latency_bound_ms=s.latency_bound_ms if server else math.nan, percentile=s.percentile if server else math.nan,
            min_ms=lat.get("min"), mean_ms=lat.get("mean"), p50_ms=lat.get("p50"), p90_ms=lat.get("p90"),
            p95_ms=lat.get("p95"), p99_ms=lat.get("p99"), p999_ms=lat.get("p99.9"), max_ms=lat.get("max"),
            valid=res.valid, loadgen_result="VALID" if res.valid else "INVALID", loadgen_reason=res.reason,
            early_stopping_met=res.early_stopping_met, early_stopping=res.early_stopping,
            overlatency_queries=res.overlatency_queries,
            runtime_settings=json.dumps({**runtime_settings, "max_batch": batch}, sort_keys=True, default=str),
            log_dir=self.rel(log_dir))
        self.rows.append(row)
        self.emit(row)
        return res


def run_server(runs: LoadRuns) -> str:
    """A run at the target QPS (when `[load] qps` is set), the max-QPS search, and one low-load run
    for the curve. Returns why the search stopped."""
    s = runs.settings
    n = s.server_concurrency
    with LoadSut(open_streams(runs.spec, n), runs.data) as sut:
        sut.warm([1])
        one = sut.latency_s(1)
        capacity = [sut.throughput(1)]  # lowered by every run that could not keep up
        rs = {**sut.streams.settings(), "single_query_ms": round(one * 1e3, 4),
              "capacity_estimate_qps": round(capacity[0], 1)}

        def probe(qps: float, step: str = "search") -> tuple[bool, float]:
            res = runs.once(sut, step, qps, streams=n, batch=1, runtime_settings=rs)
            if not res.valid and 0 < res.qps < 0.9 * qps:
                capacity[0] = min(capacity[0], res.qps)
            return res.valid, res.qps

        def cost(qps: float) -> float:  # an overloaded run takes longer, up to its limit
            scheduled = s.scheduled_s("server", qps)
            return min(scheduled * max(1.0, qps / capacity[0]), s.limit_s("server", qps)) + RUN_OVERHEAD_S

        if s.qps is not None:
            probe(s.qps, "target")
        if one * 1e3 > s.latency_bound_ms:
            return (f"not searched: one query alone takes {one * 1e3:.3g} ms, over the "
                    f"{s.latency_bound_ms:g} ms bound")
        result = find_max_qps(probe, START_FRACTION * capacity[0], max_runs=s.search_runs, budget_s=s.search_s,
                              tolerance=s.tolerance, run_cost_s=cost)
        if result.best_qps is not None and cost(CURVE_FRACTION * result.best_qps) < s.search_s / 2:
            probe(CURVE_FRACTION * result.best_qps, "curve")
        return f"{result.stopped} after {result.runs} runs"


def run_offline(runs: LoadRuns) -> str:
    """Every concurrency x max batch once; a run that ended before its minimum duration (the
    expected QPS was too low) is re-run once at the rate it measured."""
    s = runs.settings
    for n in sorted(set(s.streams)):
        with LoadSut(open_streams(runs.spec, n), runs.data) as sut:
            batches = sorted(set(s.max_batch))
            sut.warm(batches)
            rs = sut.streams.settings()
            for b in batches:
                expected = sut.throughput(b)
                res = runs.once(sut, "sweep", expected, streams=n, batch=b, runtime_settings=rs)
                if not res.valid and "min duration not met" in res.reason and res.qps > 0:
                    runs.once(sut, "rerun", res.qps * 1.25, streams=n, batch=b, runtime_settings=rs)
    return ""


def mark_headline(rows: list[dict[str, Any]], scenario: str, stop: str) -> None:
    """Flag the cell's figure: the highest VALID Server QPS, or the best VALID Offline samples/s."""
    valid = [r for r in rows if r["status"] == "ok" and r["valid"]]
    for r in rows:
        r["headline"] = False
        if scenario == "server":
            r["search_stop"] = stop
    if valid:
        best = max(valid, key=lambda r: r["target_qps"] if scenario == "server" else r["achieved_qps"])
        best["headline"] = True


RUNNERS: dict[str, Callable[[LoadRuns], str]] = {"server": run_server, "offline": run_offline}
