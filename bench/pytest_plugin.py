"""pytest plugin: run a twinbench cell as a pytest-benchmark test.

Load it with `pytest -p twinbench.bench.pytest_plugin` (or `pytest_plugins = [...]` in a conftest)
and write::

    def test_lstm_ort(twinbench_cell):
        twinbench_cell("artifacts/lstm/torch-dynamo.onnx", batch=8, seq_len=16, twin="lstm")

The fixture opens an ONNX Runtime CPU session with explicit thread counts, feeds random token ids
(int64 [batch, seq_len]), hands `session.run` to pytest-benchmark's `benchmark` fixture and records
the cell identity in `extra_info` (keys `twinbench_*`), so `--benchmark-json` output converts back
into the results schema (reports/pytest_benchmark.py) and teams can gate with
`--benchmark-compare-fail=median:10%` as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from twinbench.errors import ConfigError

RUNTIMES = ("ort-cpu",)


@dataclass(frozen=True)
class CellRun:
    """What the fixture measured: the benchmarked call, its feeds and the outputs of the last run."""

    call: Callable[[], Any]
    feeds: dict[str, Any]
    outputs: Any


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _feeds(session: Any, batch: int, seq_len: int, vocab_size: int, seed: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in session.get_inputs():
        if "int64" not in inp.type:
            raise ConfigError(f"twinbench_cell: input {inp.name!r} is {inp.type}, only int64 token ids are fed")
        feeds[inp.name] = rng.integers(2, max(3, vocab_size), size=(batch, seq_len), dtype=np.int64)
    return feeds


def run_cell(benchmark: Any, model: str | Path, *, batch: int = 1, seq_len: int = 16, threads: int = 1,
             runtime: str = "ort-cpu", vocab_size: int = 100, twin: str | None = None, seed: int = 0,
             artifact: str | None = None) -> CellRun:
    """Benchmark one ONNX file with pytest-benchmark's `benchmark` fixture; see the module docstring."""
    path = Path(model)
    if runtime not in RUNTIMES:
        raise ConfigError(f"twinbench_cell: runtime {runtime!r} not supported here (supported: {', '.join(RUNTIMES)})")
    if not path.is_file():
        raise ConfigError(f"twinbench_cell: model file not found: {path}")
    for name, v in (("batch", batch), ("seq_len", seq_len), ("threads", threads)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"twinbench_cell: {name} must be a positive integer, got {v!r}")
    session = _session(path, threads)
    feeds = _feeds(session, batch, seq_len, vocab_size, seed)
    benchmark.extra_info.update({
        "twinbench_twin": twin or path.parent.name or path.stem, "twinbench_artifact": artifact or path.stem,
        "twinbench_exporter": path.stem if path.suffix == ".onnx" else "", "twinbench_runtime": runtime,
        "twinbench_device": "cpu", "twinbench_batch": batch, "twinbench_seq_len": seq_len,
        "twinbench_threads": threads, "twinbench_precision": "fp32",
    })

    def call() -> Any:
        return session.run(None, feeds)

    outputs = benchmark(call)
    return CellRun(call=call, feeds=feeds, outputs=outputs)


@pytest.fixture
def twinbench_cell(benchmark: Any) -> Callable[..., CellRun]:
    """`twinbench_cell(model, batch=1, seq_len=16, threads=1, runtime="ort-cpu", ...)` -> CellRun."""

    def make(model: str | Path, **kwargs: Any) -> CellRun:
        return run_cell(benchmark, model, **kwargs)

    return make
