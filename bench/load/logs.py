"""Reading LoadGen's verdict back from its detail log (`mlperf_log_detail.txt`).

LoadGen writes one `:::MLLOG {json}` line per fact; the summary file is the same facts laid out for
people. Reading the JSON lines, not the summary's text, keeps this immune to layout changes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = ":::MLLOG "
DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"
#: LoadGen files not kept in the run directory (empty in performance mode, or a large trace).
DROPPED = ("mlperf_log_accuracy.json", "mlperf_log_trace.json")
#: The checks behind LoadGen's VALID, by detail-log key, as a reader would name them.
CHECKS = {"result_perf_constraints_met": "latency bound not met",
          "result_min_duration_met": "min duration not met",
          "result_min_queries_met": "min queries not met",
          "early_stopping_met": "early stopping not met"}


@dataclass(frozen=True)
class LoadGenResult:
    """One LoadGen run as LoadGen judged it. Latencies in ms; NaN where the log has none."""

    scenario: str
    valid: bool
    reason: str                      # failed checks and LoadGen's own recommendation; "" when VALID
    qps: float                       # completed samples/s (server) or samples/s (offline)
    scheduled_qps: float             # server: arrival rate LoadGen achieved; NaN for offline
    queries: int
    samples: int
    latency_ms: dict[str, float] = field(default_factory=dict)  # min mean p50 p90 p95 p97 p99 p99.9 max
    early_stopping_met: bool | None = None
    early_stopping: str = ""
    overlatency_queries: int | None = None
    errors: int = 0


def read_detail(path: str | Path) -> dict[str, Any]:
    """key -> value of every `:::MLLOG` line (a key logged twice keeps its last value)."""
    out: dict[str, Any] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith(PREFIX):
                continue
            try:
                entry = json.loads(line[len(PREFIX):])
            except ValueError:
                continue  # a truncated line (a killed run) must not hide the lines before it
            if isinstance(entry, dict) and "key" in entry:
                out[str(entry["key"])] = entry.get("value")
    return out


def _ms(v: Any) -> float:
    try:
        return float(v) / 1e6
    except (TypeError, ValueError):
        return math.nan


def _latencies(detail: dict[str, Any]) -> dict[str, float]:
    out = {"min": _ms(detail.get("result_min_latency_ns")), "mean": _ms(detail.get("result_mean_latency_ns")),
           "max": _ms(detail.get("result_max_latency_ns"))}
    for key, value in detail.items():
        if key.startswith("result_") and key.endswith("_percentile_latency_ns"):
            pct = float(key[len("result_"):-len("_percentile_latency_ns")])
            out[f"p{pct:g}"] = _ms(value)
    return out


def _reason(detail: dict[str, Any]) -> str:
    if detail.get("result_validity") == "VALID":
        return ""
    failed = [text for key, text in CHECKS.items() if detail.get(key) is False]
    own = " ".join(str(detail.get("result_invalid_reason") or "").split())
    if detail.get("result_validity") is None:
        failed.append("no verdict in the log")
    return "; ".join(failed + ([f"LoadGen: {own}"] if own else []))


def parse_result(detail: dict[str, Any]) -> LoadGenResult:
    scenario = str(detail.get("effective_scenario") or detail.get("requested_scenario") or "").lower()
    offline = scenario == "offline"
    qps = detail.get("result_samples_per_second" if offline else "result_completed_samples_per_sec")
    es = detail.get("early_stopping_met")
    over = detail.get("result_overlatency_query_count")
    queries = int(detail.get("result_query_count") or 0)
    return LoadGenResult(
        scenario=scenario, valid=detail.get("result_validity") == "VALID", reason=_reason(detail),
        qps=float(qps) if qps is not None else math.nan,
        scheduled_qps=float(detail.get("result_scheduled_samples_per_sec", math.nan) or math.nan),
        queries=queries, samples=queries * int(detail.get("generated_samples_per_query") or 1),
        latency_ms=_latencies(detail),
        early_stopping_met=es if isinstance(es, bool) else None,
        early_stopping=" ".join(str(detail.get("early_stopping_result") or "").replace("*", " ").split()),
        overlatency_queries=int(over) if isinstance(over, (int, float)) else None,
        errors=int(detail.get("num_errors") or 0))


def read_result(log_dir: str | Path) -> LoadGenResult:
    """The verdict of the LoadGen run whose logs are in `log_dir`."""
    return parse_result(read_detail(Path(log_dir) / DETAIL))


def tidy(log_dir: str | Path) -> None:
    """Keep the summary and detail logs only."""
    for name in DROPPED:
        (Path(log_dir) / name).unlink(missing_ok=True)
