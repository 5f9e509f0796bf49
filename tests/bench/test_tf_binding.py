"""TensorFlow workers bind themselves to `threads` CPUs (bench/runtimes/_tf.py: TF runs a
function's kernels on its inter-op thread while the caller waits, so the two threads' placement
decides a call's cost). The binding covers threads started before and after it, is recorded in
the runtime settings, can be turned off, and is undone when a session closes in a longer-lived
process."""

from __future__ import annotations

import os
import threading

import pytest

from twinbench.bench.runtimes import _tf

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="needs CPU affinity and at least 2 CPUs")


def _masks() -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}


def test_binding_covers_every_thread_and_is_undone() -> None:
    before = os.sched_getaffinity(0)
    stop = threading.Event()
    early = threading.Thread(target=stop.wait)
    early.start()
    try:
        cpus = _tf.bind_cpus(1)
        assert len(cpus) == 1 and cpus[0] in before
        late = threading.Thread(target=stop.wait)
        late.start()
        assert _masks() == {frozenset(cpus)}  # the thread started before and the one after
        assert _tf.bind_cpus(len(before)) == []  # all allowed CPUs: nothing to bind
        stop.set()
        late.join()
    finally:
        stop.set()
        early.join()
        _tf.release_cpus()
    assert os.sched_getaffinity(0) == before


@pytest.mark.slow
@pytest.mark.parametrize("bind", [True, False])
def test_a_tf_function_session_records_its_cpus(tiny_run, bind: bool) -> None:
    from twinbench.bench.runtimes import get_runtime
    from twinbench.bench.runtimes.base import LoadOptions

    before = os.sched_getaffinity(0)
    session = get_runtime("tf-function").load(tiny_run.artifacts["keras"], LoadOptions(
        device="cpu", threads=1, run_dir=str(tiny_run.run_dir), settings={"bind_cpus": bind}))
    try:
        for x in tiny_run.batches.values():
            session.fetch(session.bind({"tokens": x})())
        info = session.info()
        assert info["bind_cpus"] is bind
        if bind:
            assert info["cpus"].isdigit() and _masks() == {frozenset([int(info["cpus"])])}
        else:
            assert info["cpus"] == "unbound" and os.sched_getaffinity(0) == before
    finally:
        session.close()
    assert _masks() == {frozenset(before)}
