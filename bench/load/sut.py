"""The one system-under-test adapter: MLPerf LoadGen on one side, `Streams` (any runtime) on the other.

LoadGen owns the scenario, the arrival process, the clock and the verdict; this adapter only turns
its queries into inference calls. `issue_queries` puts the samples on a queue in chunks of at most
`max_batch` (Server sends one sample per query, so chunks are single samples; Offline sends every
sample at once, so chunks are the batches), and one thread per stream takes chunks, gathers their
rows from the query sample library into one batch, runs it and reports every sample complete.

A stream that raises does not hang LoadGen (which waits for every sample): the first error is kept,
the remaining samples are completed at once without inference, and `run` re-raises the error after
LoadGen returns, so the cell becomes a failed row with the reason and the run goes on.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import queue
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from twinbench.bench.feeds import batch_size, rows
from twinbench.bench.load.logs import LoadGenResult, read_result, tidy
from twinbench.bench.load.streams import Streams


def loadgen_unavailable() -> str | None:
    """Why the Server and Offline scenarios cannot run here (LoadGen is an optional extra), or None."""
    if importlib.util.find_spec("mlperf_loadgen") is None:
        return "MLPerf LoadGen is not installed (pip install 'twinbench[load]')"
    return None


class LoadSut:
    """LoadGen SUT + QSL over `streams`; `data` holds the QSL's input rows, one array per model
    input ([samples, seq] each: token ids, and a mask etc. for files with several inputs)."""

    def __init__(self, streams: Streams, data: Mapping[str, np.ndarray]) -> None:
        import mlperf_loadgen as lg

        self.lg = lg
        self.streams = streams
        self.data = data
        self.max_batch = 1
        self.error: BaseException | None = None
        self._deadline = float("inf")  # perf_counter time after which samples are completed unrun
        self._served = 0               # samples really run in the current LoadGen run
        self._unserved = 0             # samples completed unrun because the run overran its limit
        self._count = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._lane, args=(i,), name=f"load-lane-{i}", daemon=True)
                         for i in range(streams.n)]
        for t in self._threads:
            t.start()
        n = batch_size(data)
        self._sut = lg.ConstructSUT(self._issue, self._flush)
        self._qsl = lg.ConstructQSL(n, n, self._load_samples, self._unload_samples)

    # LoadGen callbacks ---------------------------------------------------------------------
    def _issue(self, samples: list[Any]) -> None:
        mb, put = self.max_batch, self._queue.put
        for i in range(0, len(samples), mb):
            put(samples[i:i + mb])

    def _flush(self) -> None:
        return None

    def _load_samples(self, indices: list[int]) -> None:
        return None  # every row is in memory already

    def _unload_samples(self, indices: list[int]) -> None:
        return None

    def _lane(self, i: int) -> None:
        lg, data, infer, get = self.lg, self.data, self.streams.infer, self._queue.get
        while True:
            chunk = get()
            if chunk is None:
                return
            if self.error is None and time.perf_counter() < self._deadline:
                try:
                    infer(i, rows(data, [s.index for s in chunk]))
                    with self._count:
                        self._served += len(chunk)
                except BaseException as exc:  # kept and re-raised by `run`; LoadGen must still finish
                    if self.error is None:
                        self.error = exc
            elif self.error is None:  # past the run's limit: the queue cannot drain; answer unrun
                with self._count:
                    self._unserved += len(chunk)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in chunk])

    # measurement -----------------------------------------------------------------------------
    def warm(self, batches: list[int], calls: int = 3) -> None:
        """A few untimed calls per lane and batch size (lazy init, per-shape compilation)."""
        for b in sorted(set(batches)):
            x = rows(self.data, slice(0, b))
            for i in range(self.streams.n):
                for _ in range(calls):
                    self.streams.infer(i, x)

    def latency_s(self, batch: int, seconds: float = 0.25, max_calls: int = 200) -> float:
        """Median seconds of one call of `batch` rows on lane 0, nothing else running: the capacity
        estimate a search starts from (never a reported figure)."""
        x = rows(self.data, slice(0, batch))
        times: list[float] = []
        t_end = time.perf_counter() + seconds
        while len(times) < max_calls and (len(times) < 3 or time.perf_counter() < t_end):
            t0 = time.perf_counter()
            self.streams.infer(0, x)
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    def throughput(self, batch: int, seconds: float = 0.3) -> float:
        """Samples/s with every lane calling `batch` rows back to back, no LoadGen: the capacity
        estimate LoadGen runs are sized from (never a reported figure)."""
        x = rows(self.data, slice(0, batch))
        counts = [0] * self.streams.n
        stop = time.perf_counter() + seconds

        def loop(i: int) -> None:
            while time.perf_counter() < stop or counts[i] == 0:
                self.streams.infer(i, x)
                counts[i] += 1

        t0 = time.perf_counter()
        lanes = [threading.Thread(target=loop, args=(i,)) for i in range(self.streams.n)]
        for t in lanes:
            t.start()
        for t in lanes:
            t.join()
        return sum(counts) * batch / (time.perf_counter() - t0)

    def run(self, scenario: str, qps: float, log_dir: str | Path, *, duration_s: float, min_queries: int,
            latency_bound_ms: float = 0.0, percentile: float = 99.0, max_batch: int = 1,
            limit_s: float = float("inf")) -> LoadGenResult:
        """One LoadGen run in PerformanceOnly mode; its logs go to `log_dir`. Server: Poisson
        arrivals at `qps` judged against the latency bound; Offline: all samples at once, sized
        from the expected `qps`.

        `limit_s` bounds the run: a SUT slower than the arrival rate builds a queue LoadGen would
        wait out however long it takes (65 s for one run at 1000 QPS of a 22 QPS runtime). Past
        the limit every queued sample is answered at once without running it, and the run is
        INVALID with that reason, its QPS the samples really run per second."""
        lg = self.lg
        ts = lg.TestSettings()
        ts.mode = lg.TestMode.PerformanceOnly
        ts.min_duration_ms = int(duration_s * 1000)
        ts.min_query_count = int(min_queries)
        if scenario == "server":
            ts.scenario = lg.TestScenario.Server
            ts.server_target_qps = float(qps)
            ts.server_target_latency_ns = int(latency_bound_ms * 1e6)
            ts.server_target_latency_percentile = percentile / 100.0
        elif scenario == "offline":
            ts.scenario = lg.TestScenario.Offline
            ts.offline_expected_qps = float(qps)
        else:
            raise ValueError(f"scenario: LoadGen runs server or offline here, not {scenario!r}")
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        ls = lg.LogSettings()
        ls.log_output.outdir = str(log_dir)
        ls.log_output.copy_summary_to_stdout = False
        ls.enable_trace = False
        self.max_batch = max(1, int(max_batch))
        self._served = self._unserved = 0
        t0 = time.perf_counter()
        self._deadline = t0 + limit_s
        try:
            lg.StartTestWithLogSettings(self._sut, self._qsl, ts, ls)
        finally:
            self._deadline = float("inf")
        elapsed = time.perf_counter() - t0
        tidy(log_dir)
        if self.error is not None:
            raise self.error
        result = read_result(log_dir)
        if not self._unserved:
            return result
        total = self._served + self._unserved
        why = (f"stopped after {limit_s:.3g} s: the queue could not drain ({self._unserved} of {total} samples "
               f"answered unrun; the SUT ran {self._served / elapsed:.3g} samples/s)")
        return dataclasses.replace(result, valid=False, reason=why, qps=self._served / elapsed if elapsed > 0 else 0.0)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=30)
        self.lg.DestroyQSL(self._qsl)
        self.lg.DestroySUT(self._sut)
        self.streams.close()

    def __enter__(self) -> "LoadSut":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
