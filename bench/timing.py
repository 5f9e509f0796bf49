"""The timing engine: warm up, then time one call at a time until enough samples exist.

Kept tiny on purpose: the hot loop does two `perf_counter_ns` calls, the call itself, an optional
device sync and one store into a preallocated list, so the harness adds well under a microsecond.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from twinbench.bench.probe import probe as machine_probe
from twinbench.core.errors import ConfigError

#: A round is in the fast state when its probe is at most this much slower than the fast level.
STATE_BAND = 0.25
#: Initial capacity of the sample buffer; it doubles when a fast call needs more.
_CAPACITY = 4096


@dataclass(frozen=True)
class TimingPlan:
    """Warm up for >= warmup_iters AND >= warmup_s; then measure until >= min_iters AND >= min_s,
    stopping at max_s whatever happened, in rounds of about `round_s` with the machine-state probe
    timed before each round. Each cell is measured in `repeats` fresh processes. A process whose
    samples spread more than `max_spread` (IQR / median) is flagged invalid, and so is a cell whose
    processes disagree by more than `max_between` (robust relative spread of their medians)."""

    warmup_iters: int = 5
    warmup_s: float = 0.2
    min_iters: int = 30
    min_s: float = 1.0
    max_s: float = 10.0
    round_s: float = 0.05
    repeats: int = 1
    max_spread: float = 0.5
    max_between: float = 0.1

    def __post_init__(self) -> None:
        for name in ("warmup_iters", "min_iters", "repeats"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"timing.{name}: must be an integer, got {v!r}")
        if self.warmup_iters < 0:
            raise ConfigError(f"timing.warmup_iters: must be >= 0, got {self.warmup_iters}")
        if self.min_iters < 1:
            raise ConfigError(f"timing.min_iters: must be >= 1, got {self.min_iters}")
        if self.repeats < 1:
            raise ConfigError(f"timing.repeats: must be >= 1, got {self.repeats}")
        for name in ("warmup_s", "min_s", "max_s", "round_s", "max_spread", "max_between"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"timing.{name}: must be a finite number, got {v!r}")
        if self.warmup_s < 0:
            raise ConfigError(f"timing.warmup_s: must be >= 0, got {self.warmup_s}")
        if self.min_s < 0:
            raise ConfigError(f"timing.min_s: must be >= 0, got {self.min_s}")
        if self.max_s <= 0:
            raise ConfigError(f"timing.max_s: must be positive, got {self.max_s}")
        if self.max_s < self.min_s:
            raise ConfigError(f"timing.max_s: must be >= min_s ({self.min_s}), got {self.max_s}")
        for name in ("round_s", "max_spread", "max_between"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"timing.{name}: must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TimingPlan":
        try:
            return cls(**dict(d))
        except TypeError as exc:
            raise ConfigError(f"timing: {exc}") from None


def _noop() -> None:
    return None


def warm_up(call: Callable[[], Any], sync: Callable[[], None] | None, plan: TimingPlan) -> int:
    """Run until warmup_iters AND warmup_s are both reached (never longer than max_s).
    Returns the number of warm-up calls made."""
    sync = sync or _noop
    pc = time.perf_counter_ns
    start = pc()
    need_ns = int(plan.warmup_s * 1e9)
    cap_ns = int(plan.max_s * 1e9)
    n = 0
    while True:
        call()
        sync()
        n += 1
        elapsed = pc() - start
        if (n >= plan.warmup_iters and elapsed >= need_ns) or elapsed >= cap_ns:
            return n


#: Columns of the rounds array `measure_rounds` returns (one row per round).
ROUND_COLUMNS = ("probe_py_ns", "probe_np_ns", "first", "count")


#: Rounds in the machine's fast state a process waits for (up to max_s) when it knows that state.
FAST_ROUNDS = 3


def measure_rounds(call: Callable[[], Any], sync: Callable[[], None] | None, plan: TimingPlan,
                   probe: Callable[[], tuple[int, int]] | None = None,
                   fast_probe_ns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(samples, rounds): per-iteration int64 ns of `call(); sync()`, measured in rounds of about
    `plan.round_s`, and per round the probe's two figures, the index of its first sample and its
    sample count (int64 [rounds, 4], `ROUND_COLUMNS`). The probe runs between rounds, outside every
    timed call; the loop inside a round is `measure`'s own.

    `fast_probe_ns` is the probe time of the machine's fast state as seen so far in this run (the
    executor passes it): then the process keeps measuring past min_s, up to max_s, until it has
    `FAST_ROUNDS` rounds in that state, since a slow stretch of the machine can outlast a short
    process and leave it with no figure (bench/repeats.py)."""
    probe = probe or machine_probe
    pc = time.perf_counter_ns
    start = pc()
    min_end = start + int(plan.min_s * 1e9)
    max_end = start + int(plan.max_s * 1e9)
    parts: list[np.ndarray] = []
    rounds: list[tuple[int, int, int, int]] = []
    n = fast = 0
    need_fast = FAST_ROUNDS if fast_probe_ns else 0
    while True:
        py_ns, np_ns = probe()
        now = pc()
        length = max(1e-9, min(plan.round_s, (max_end - now) / 1e9))
        ns = measure(call, sync, TimingPlan(warmup_iters=0, warmup_s=0.0, min_iters=1, min_s=length, max_s=length),
                     warmup=False)
        rounds.append((py_ns, np_ns, n, len(ns)))
        parts.append(ns)
        n += len(ns)
        if fast_probe_ns and py_ns <= fast_probe_ns * (1.0 + STATE_BAND):
            fast += 1
        t = pc()
        if (n >= plan.min_iters and t >= min_end and fast >= need_fast) or t >= max_end:
            break
    return (np.concatenate(parts) if parts else np.empty(0, np.int64)), np.array(rounds, dtype=np.int64).reshape(-1, 4)


def measure(call: Callable[[], Any], sync: Callable[[], None] | None, plan: TimingPlan,
            *, warmup: bool = True) -> np.ndarray:
    """Per-iteration wall time in int64 ns of `call(); sync()` after a warm-up.

    `sync` may be None on CPU (saves a no-op call per iteration). The garbage collector is off
    while timing so its pauses do not land in someone's p99."""
    if warmup:
        warm_up(call, sync, plan)
    pc = time.perf_counter_ns
    buf = [0] * _CAPACITY
    cap = _CAPACITY
    min_iters = plan.min_iters
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        start = pc()
        min_end = start + int(plan.min_s * 1e9)
        max_end = start + int(plan.max_s * 1e9)
        i = 0
        # Two copies of the loop on purpose: one branch-free body per case keeps the harness's own
        # cost per iteration at ~0.1 us (benchmarks/harness_overhead.py).
        if sync is None:
            while True:
                t0 = pc()
                call()
                t1 = pc()
                buf[i] = t1 - t0
                i += 1
                if (i >= min_iters and t1 >= min_end) or t1 >= max_end:
                    break
                if i == cap:
                    buf.extend([0] * cap)
                    cap *= 2
        else:
            while True:
                t0 = pc()
                call()
                sync()
                t1 = pc()
                buf[i] = t1 - t0
                i += 1
                if (i >= min_iters and t1 >= min_end) or t1 >= max_end:
                    break
                if i == cap:
                    buf.extend([0] * cap)
                    cap *= 2
    finally:
        if gc_was_on:
            gc.enable()
    return np.array(buf[:i], dtype=np.int64)
