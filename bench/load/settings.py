"""Scenario names and the `[load]` settings of a run, validated before anything is trained.

Kept free of heavy imports (no LoadGen, no numpy): `RunConfig.__post_init__` calls `check_load`, so
a bad QPS or latency bound is one line and exit 2 at the command line, not a failed cell an hour in.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from twinbench.core.errors import ConfigError

SINGLE_STREAM = "single-stream"
#: Every scenario a run may ask for; the first is the existing timing engine, the rest go through LoadGen.
SCENARIOS = (SINGLE_STREAM, "server", "offline")
LOAD_SCENARIOS = ("server", "offline")
#: Seconds a LoadGen run may take beyond `run_limit` times its scheduled length (start-up, log writing).
RUN_SLACK_S = 2.0
#: LoadGen's early-stopping confidence (its `kConfidence`): the number of queries a run needs follows from it.
EARLY_STOPPING_CONFIDENCE = 0.99


def early_stopping_queries(percentile: float) -> int:
    """Queries LoadGen's early-stopping check needs, with none over the bound, to conclude that the
    `percentile`-th latency is under it: the smallest n with (p/100)^n <= 1 - confidence.
    Fewer queries and LoadGen judges a Server run INVALID whatever its latencies (459 for p99)."""
    p = percentile / 100.0
    return int(math.ceil(math.log(1.0 - EARLY_STOPPING_CONFIDENCE) / math.log(p)))


@dataclass(frozen=True)
class LoadSettings:
    """`[load]`: how the Server and Offline scenarios run (docs/load.md).

    Durations are far shorter than MLPerf's 600 s so a CI run stays in minutes; each LoadGen run
    records its own duration and query count, so a reader sees what a VALID verdict rests on."""

    qps: float | None = None            # server: one extra run at this arrival rate (latency percentiles)
    latency_bound_ms: float = 10.0      # server: bound on the `percentile` latency (LoadGen's target latency)
    percentile: float = 99.0            # server: which latency percentile the bound applies to
    duration_s: float = 1.5             # every LoadGen run: minimum duration
    min_queries: int | None = None      # every LoadGen run: minimum queries (None: what early stopping needs)
    search_runs: int = 8                # server: LoadGen runs in one max-QPS search, at most
    search_s: float = 45.0              # server: seconds one max-QPS search may take, at most
    tolerance: float = 0.05             # server: the search stops when hi / lo <= 1 + tolerance
    streams: tuple[int, ...] = (1, 2)   # offline: concurrency tried (sessions / infer requests)
    server_streams: int | None = None   # server: concurrency (None: the largest of `streams`)
    max_batch: tuple[int, ...] = (1, 32)  # offline: most queued samples per inference call, tried
    samples: int = 1024                 # query sample library size (distinct input rows)
    run_limit: float = 2.0              # every LoadGen run: stopped (INVALID) past this many times its
                                        # scheduled length + RUN_SLACK_S (a queue that cannot drain)

    def __post_init__(self) -> None:
        for name in ("streams", "max_batch"):
            value = getattr(self, name)
            seq = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            object.__setattr__(self, name, seq)
            if not seq:
                raise ConfigError(f"load.{name}: at least one value is needed")
            for v in seq:
                _positive_int(name, v)
        if self.qps is not None:
            _positive_number("qps", self.qps)
        if self.latency_bound_ms is None or self.latency_bound_ms == "":
            raise ConfigError("load.latency_bound_ms: missing; the server scenario needs a latency bound in ms")
        _positive_number("latency_bound_ms", self.latency_bound_ms)
        _number("percentile", self.percentile)
        if not 50.0 <= self.percentile < 100.0:
            raise ConfigError(f"load.percentile: must be in [50, 100), got {self.percentile!r}")
        for name in ("duration_s", "search_s", "tolerance"):
            _positive_number(name, getattr(self, name))
        _number("run_limit", self.run_limit)
        if self.run_limit < 1.0:
            raise ConfigError(f"load.run_limit: must be >= 1 (times a run's scheduled length), got {self.run_limit!r}")
        for name in ("search_runs", "samples"):
            _positive_int(name, getattr(self, name))
        for name in ("min_queries", "server_streams"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))

    @property
    def queries(self) -> int:
        """Minimum queries of every LoadGen run."""
        return self.min_queries if self.min_queries is not None else early_stopping_queries(self.percentile)

    def scheduled_s(self, scenario: str, qps: float) -> float:
        """How long LoadGen means a run at `qps` to last: its minimum duration, or (Server) as long
        as issuing its minimum query count takes at that rate."""
        if scenario == "server" and qps > 0:
            return max(self.duration_s, self.queries / qps)
        return self.duration_s

    def limit_s(self, scenario: str, qps: float) -> float:
        """The most a run at `qps` may take before it is stopped as INVALID (bench/load/sut.py)."""
        return self.run_limit * self.scheduled_s(scenario, qps) + RUN_SLACK_S

    @property
    def server_concurrency(self) -> int:
        return self.server_streams if self.server_streams is not None else max(self.streams)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["streams"], d["max_batch"] = list(self.streams), list(self.max_batch)
        return d

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "LoadSettings":
        values = dict(values or {})
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"load: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
        return cls(**values)


def _number(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"load.{name}: must be a finite number, got {v!r}")


def _positive_number(name: str, v: Any) -> None:
    _number(name, v)
    if v <= 0:
        raise ConfigError(f"load.{name}: must be > 0, got {v!r}")


def _positive_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"load.{name}: every value must be a positive integer, got {v!r}")


def check_scenarios(scenarios: Iterable[Any]) -> tuple[str, ...]:
    """The scenarios in order, duplicates dropped; ConfigError on an unknown name or none at all."""
    names = tuple(scenarios) if not isinstance(scenarios, str) else (scenarios,)
    for name in names:
        if name not in SCENARIOS:
            raise ConfigError(f"scenarios: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    if not names:
        raise ConfigError(f"scenarios: at least one is needed (known: {', '.join(SCENARIOS)})")
    return tuple(dict.fromkeys(names))


def check_load(scenarios: Iterable[Any], load: Mapping[str, Any] | None) -> LoadSettings:
    """What `RunConfig` checks at construction: the scenario names and the `[load]` table."""
    check_scenarios(scenarios)
    return LoadSettings.from_mapping(load)


def cell_batches(scenario: str, batches: Iterable[int], load: LoadSettings) -> list[int]:
    """The batch sizes a scenario's cells are planned at: the run's batches for single-stream; one
    cell for Server (each query is one sequence) and one for Offline (it tries every `max_batch`
    itself and is keyed by the largest)."""
    if scenario == SINGLE_STREAM:
        return list(batches)
    return [1] if scenario == "server" else [max(load.max_batch)]


def cell_suffix(scenario: str) -> str:
    """Cell ids of load scenarios end in `.server` / `.offline`; single-stream ids are unchanged."""
    return "" if scenario == SINGLE_STREAM else f".{scenario}"
