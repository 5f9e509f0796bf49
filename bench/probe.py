"""The machine-state probe: a fixed, cheap piece of work timed between rounds of a measurement.

On shared VMs and CI runners the whole vCPU flips between a fast and a slow state that lasts
seconds; a pure-Python loop, NumPy and ONNX Runtime slow down together in the same windows (by
different factors). Timing this probe next to each round tells which state the round ran in, so
figures can be compared state for state (docs/measurement.md)."""

from __future__ import annotations

import time

import numpy as np

#: The pure-Python part: a fixed number of integer additions (~30-70 us on the 2-core CI VM).
LOOP_N = 2000
#: The numeric part: one 64x64 float64 matrix product (~6 us).
_A = np.random.default_rng(0).standard_normal((64, 64))
#: Each probe is the best of this many tries, so one interrupt does not mislabel a round.
TRIES = 3


def _loop() -> int:
    s = 0
    for i in range(LOOP_N):
        s += i
    return s


def probe() -> tuple[int, int]:
    """(pure-Python loop ns, NumPy matmul ns), each the best of `TRIES`."""
    pc = time.perf_counter_ns
    best_py = best_np = 1 << 62
    for _ in range(TRIES):
        t0 = pc()
        _loop()
        t1 = pc()
        _A @ _A
        t2 = pc()
        best_py = min(best_py, t1 - t0)
        best_np = min(best_np, t2 - t1)
    return best_py, best_np
