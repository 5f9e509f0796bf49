"""Concurrency the way each runtime does it: N streams that can each run one inference at a time.

The SUT adapter (sut.py) gives every stream a thread of its own; what a stream *is* depends on the
runtime, through one hook per runtime name:

- generic (every runtime, ONNX Runtime, torch, TensorFlow/Keras included): N sessions loaded through
  the runtime's own `load`, each with `threads` intra-op threads, one Python thread each. The
  frameworks release the GIL inside inference, so N streams run in parallel on N x threads cores.
- `openvino`: ONE compiled model with the THROUGHPUT hint and NUM_STREAMS = N (INFERENCE_NUM_THREADS
  = N x threads), and N asynchronous infer requests on it: OpenVINO's own way to serve concurrently.

Every setting in effect is returned by `Streams.settings()` and lands in the load table's
`runtime_settings`. A user runtime without a hook gets the generic one; a hook for one is one more
function decorated with `@register_streams("name")`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import numpy as np

from twinbench.core.registry import Registry
from twinbench.bench.runtimes import get_runtime
from twinbench.bench.runtimes._util import feed_list
from twinbench.bench.runtimes.base import LoadOptions

if TYPE_CHECKING:
    from twinbench.bench.cells import CellSpec


class Streams(Protocol):
    """N independent inference lanes. `infer(i, feeds)` runs one batch (input name -> array: the
    token ids [b, seq], and a mask etc. for files with several inputs) on lane i to completion,
    outputs on the host; lanes are used from different threads, one thread per lane."""

    n: int

    def infer(self, i: int, feeds: Mapping[str, np.ndarray]) -> None: ...

    def settings(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


StreamOpener = Callable[["CellSpec", int], Streams]
#: Runtime name -> its own way to open N streams (the generic one serves every other runtime).
STREAMS: Registry[StreamOpener] = Registry("stream hook")


def register_streams(*runtimes: str) -> Callable[[StreamOpener], StreamOpener]:
    """Decorator: `opener(spec, n) -> Streams` for the named runtimes."""

    def deco(fn: StreamOpener) -> StreamOpener:
        for name in runtimes:
            STREAMS.register(name)(fn)
        return fn

    return deco


def open_streams(spec: "CellSpec", n: int) -> Streams:
    """The runtime's own concurrency where it has a hook, else N sessions."""
    return (STREAMS.find(spec.runtime) or SessionStreams.open)(spec, n)


def _options(spec: "CellSpec", threads: int, settings: dict[str, Any]) -> Any:
    return LoadOptions(device=spec.device, threads=threads, run_dir=spec.run_dir, settings=settings)


class SessionStreams:
    """The generic lanes: one session per stream (sessions share nothing, so no locks)."""

    def __init__(self, sessions: list[Any], threads: int) -> None:
        self.sessions = sessions
        self.n = len(sessions)
        self.threads = threads

    @classmethod
    def open(cls, spec: "CellSpec", n: int) -> "SessionStreams":
        runtime = get_runtime(spec.runtime)
        sessions: list[Any] = []
        try:
            for _ in range(n):
                sessions.append(runtime.load(spec.art, _options(spec, spec.threads, dict(spec.settings))))
        except BaseException:
            for s in sessions:
                s.close()
            raise
        return cls(sessions, spec.threads)

    def infer(self, i: int, feeds: Mapping[str, np.ndarray]) -> None:
        session = self.sessions[i]
        result = session.bind(feeds)()
        session.sync()
        session.fetch(result)

    def settings(self) -> dict[str, Any]:
        info = dict(self.sessions[0].info())
        info.pop("io_in_timing", None)
        return {**info, "concurrency": "session per stream, one thread each", "streams": self.n,
                "sessions": self.n, "threads_per_stream": self.threads}

    def close(self) -> None:
        for s in self.sessions:
            try:
                s.close()
            except Exception:
                pass
        self.sessions = []


class OpenVinoStreams:
    """One compiled model, NUM_STREAMS = n, THROUGHPUT hint, n asynchronous infer requests."""

    def __init__(self, session: Any, n: int, threads: int) -> None:
        import openvino as ov

        self._ov = ov
        self.session = session
        self.n = n
        self.threads = threads
        compiled = session.compiled
        self.requests = [compiled.create_infer_request() for _ in range(n)]
        self.ports = list(getattr(session, "ports", None) or [("", getattr(session, "input_dtype", np.int64))])
        self.outputs = len(compiled.outputs)

    @classmethod
    def open(cls, spec: "CellSpec", n: int) -> Streams:
        settings = {**dict(spec.settings), "performance_hint": "THROUGHPUT", "num_streams": n}
        session = get_runtime(spec.runtime).load(spec.art, _options(spec, spec.threads * n, settings))
        if getattr(session, "compiled", None) is None:  # an adapter without its compiled model: generic lanes
            session.close()
            return SessionStreams.open(spec, n)
        return cls(session, n, spec.threads)

    def infer(self, i: int, feeds: Mapping[str, np.ndarray]) -> None:
        req = self.requests[i]
        values = feed_list(feeds, [name for name, _ in self.ports])
        for k, ((_, dtype), x) in enumerate(zip(self.ports, values)):
            req.set_input_tensor(k, self._ov.Tensor(np.ascontiguousarray(x, dtype=dtype)))
        req.start_async()
        req.wait()
        for k in range(self.outputs):
            np.array(req.get_output_tensor(k).data, copy=True)

    def settings(self) -> dict[str, Any]:
        info = dict(self.session.info())
        info.pop("io_in_timing", None)
        compiled = self.session.compiled
        return {**info, "concurrency": "one compiled model, asynchronous infer requests", "streams": self.n,
                "infer_requests": len(self.requests), "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
                "optimal_infer_requests": int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
                "threads_per_stream": self.threads}

    def close(self) -> None:
        self.requests = []
        self.session.close()


register_streams("openvino")(OpenVinoStreams.open)
