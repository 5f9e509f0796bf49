"""pytest plugin: run a twinbench cell as a pytest-benchmark test.

Load it with `pytest -p twinbench.bench.pytest_plugin` (or `pytest_plugins = [...]` in a conftest)
and write::

    def test_lstm_ort(twinbench_cell):
        twinbench_cell("artifacts/lstm/torch-dynamo.onnx", batch=8, seq_len=16, twin="lstm")

The fixture reads the artifact's sidecar (`<file>.onnx.json`, written by every twinbench export)
for the vocabulary size, the twin and exporter names and a fixed sequence length; without a sidecar
the vocabulary comes from the embedding table feeding on the token input (or `vocab_size=`). It
opens an ONNX Runtime CPU session with explicit thread counts, feeds random token ids in that
vocabulary (int64 [batch, seq_len]), hands `session.run` to pytest-benchmark's `benchmark` fixture and records
the cell identity in `extra_info` (keys `twinbench_*`), so `--benchmark-json` output converts back
into the results schema (reports/pytest_benchmark.py) and teams can gate with
`--benchmark-compare-fail=median:10%` as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pytest

from twinbench.core.errors import ConfigError
from twinbench.exporters.artifact import Artifact

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


@dataclass(frozen=True)
class ModelFacts:
    """What the fixture needs to know about a model file: from its sidecar, else from the graph."""

    vocab_size: int | None
    twin: str
    artifact: str
    exporter: str
    precision: str
    fixed_seq_len: int | None


def _sidecar_facts(path: Path) -> ModelFacts | None:
    side = Path(str(path) + ".json")
    if not side.is_file():
        return None
    try:
        art = Artifact.read_sidecar(side)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"twinbench_cell: unreadable sidecar {side} ({exc})") from None
    vocab = art.twin_config.get("vocab_size")
    fixed = None
    for inp in art.meta.get("inputs") or []:
        shape = inp.get("shape") or []
        if len(shape) == 2 and isinstance(shape[1], int):
            fixed = int(shape[1])
    return ModelFacts(int(vocab) if vocab else None, art.twin, art.name, art.exporter, art.precision, fixed)


def _graph_vocab(path: Path) -> int | None:
    """Rows of the embedding table a token input indexes (Gather(table, tokens)), if there is one."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = {i.name for i in graph.input}
    tables = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gather" and len(node.input) == 2 and node.input[1] in inputs \
                and node.input[0] in tables and tables[node.input[0]]:
            return int(tables[node.input[0]][0])
    return None


def model_facts(path: Path) -> ModelFacts:
    facts = _sidecar_facts(path)
    if facts is not None:
        return facts if facts.vocab_size else replace(facts, vocab_size=_graph_vocab(path))
    return ModelFacts(_graph_vocab(path), path.parent.name or path.stem, path.stem,
                      path.stem if path.suffix == ".onnx" else "", "fp32", None)


def run_cell(benchmark: Any, model: str | Path, *, batch: int = 1, seq_len: int | None = None, threads: int = 1,
             runtime: str = "ort-cpu", vocab_size: int | None = None, twin: str | None = None, seed: int = 0,
             artifact: str | None = None) -> CellRun:
    """Benchmark one ONNX file with pytest-benchmark's `benchmark` fixture; see the module docstring.

    `seq_len` defaults to the model's fixed length, else 16; `vocab_size` to the sidecar's (or the
    embedding table's rows)."""
    path = Path(model)
    if runtime not in RUNTIMES:
        raise ConfigError(f"twinbench_cell: runtime {runtime!r} not supported here (supported: {', '.join(RUNTIMES)})")
    if not path.is_file():
        raise ConfigError(f"twinbench_cell: model file not found: {path}")
    facts = model_facts(path)
    if seq_len is None:
        seq_len = facts.fixed_seq_len or 16
    elif facts.fixed_seq_len and seq_len != facts.fixed_seq_len:
        raise ConfigError(f"twinbench_cell: {path.name} takes sequences of exactly {facts.fixed_seq_len} tokens, "
                          f"got seq_len={seq_len}")
    vocab = vocab_size or facts.vocab_size
    if not vocab:
        raise ConfigError(f"twinbench_cell: no sidecar {path.name}.json and no embedding table found in the graph; "
                          "pass vocab_size=")
    for name, v in (("batch", batch), ("seq_len", seq_len), ("threads", threads), ("vocab_size", vocab)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"twinbench_cell: {name} must be a positive integer, got {v!r}")
    session = _session(path, threads)
    feeds = _feeds(session, batch, seq_len, vocab, seed)
    benchmark.extra_info.update({
        "twinbench_twin": twin or facts.twin, "twinbench_artifact": artifact or facts.artifact,
        "twinbench_exporter": facts.exporter, "twinbench_runtime": runtime,
        "twinbench_device": "cpu", "twinbench_batch": batch, "twinbench_seq_len": seq_len,
        "twinbench_threads": threads, "twinbench_precision": facts.precision, "twinbench_vocab_size": vocab,
    })

    def call() -> Any:
        return session.run(None, feeds)

    outputs = benchmark(call)
    return CellRun(call=call, feeds=feeds, outputs=outputs)


def pytest_configure(config: pytest.Config) -> None:
    """The fixture stands on pytest-benchmark's `benchmark` fixture (the optional extra `pytest`): say
    what to install once, up front, instead of "fixture 'benchmark' not found" in every test."""
    try:
        import pytest_benchmark  # noqa: F401
    except ImportError:
        raise pytest.UsageError("twinbench's pytest plugin needs pytest-benchmark: "
                                "pip install 'twinbench[pytest]'") from None


@pytest.fixture
def twinbench_cell(benchmark: Any) -> Callable[..., CellRun]:
    """`twinbench_cell(model, batch=1, seq_len=16, threads=1, runtime="ort-cpu", ...)` -> CellRun."""

    def make(model: str | Path, **kwargs: Any) -> CellRun:
        return run_cell(benchmark, model, **kwargs)

    return make
