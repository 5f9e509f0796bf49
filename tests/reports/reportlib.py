"""Small but realistic run directories for the report tests (the real pipeline is not needed).

`make_run` writes manifest.json, results/parity/training tables (through `write_table`, as the
pipeline does) and cells/<id>.npy with int64 ns drawn from a shifted log-normal with rare spikes,
which is what CPU latency samples look like.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.core.schema import SCHEMA_VERSION
from twinbench.bench.stats import summarize
from twinbench.core.tables import write_table

MACHINE = {"fingerprint": "a1b2c3d4e5f60718", "host": "ci-box", "os": "Linux 6.1", "arch": "x86_64",
           "cpu_model": "Intel(R) Xeon(R) Platinum 8481C", "cpu_cores": 2, "cpu_flags": ["avx2", "avx512f"],
           "memory_gb": 24.0, "gpu": None}
VERSIONS = {"python": "3.11.7", "twinbench": "0.1.0", "torch": "2.13.0+cpu", "tensorflow": "2.21.0",
            "keras": "3.15.0", "onnx": "1.23.0", "onnxruntime": "1.32.0", "openvino": "2026.4.0",
            "numpy": "2.3.0", "pandas": "3.0.0"}
#: artifact name -> (exporter, source, runtimes that run it)
ARTIFACTS = {
    "torch": ("native", "torch", ["torch"]),
    "keras": ("native", "keras", ["tf-function"]),
    "torch-dynamo": ("torch-dynamo", "torch", ["ort-cpu", "openvino"]),
    "tf2onnx": ("tf2onnx", "keras", ["ort-cpu", "openvino"]),
}
#: runtime -> (fixed overhead us, us per token)
COST = {"torch": (60.0, 0.9), "tf-function": (180.0, 0.8), "ort-cpu": (25.0, 0.6), "openvino": (40.0, 0.5)}
TWINS = ("lstm", "mlp")
BATCHES = (1, 8, 32)
SEQS = (16, 64)


def draw_samples(rng: np.random.Generator, median_us: float, n: int) -> np.ndarray:
    body = median_us * 0.93 + median_us * 0.07 * rng.lognormal(0.0, 0.5, n)
    spikes = rng.random(n) < 0.01
    body[spikes] *= rng.uniform(2, 6, int(spikes.sum()))
    return np.maximum(1, (body * 1e3)).astype(np.int64)


def make_run(root: Path, run_id: str = "20261123-140000-aaaaaa", *, seed: int = 0, slowdown: float = 1.0,
             machine: dict[str, Any] | None = None, versions: dict[str, str] | None = None,
             n_samples: int = 300, status: str = "complete", extra_parity: float = 1.0,
             twins: tuple[str, ...] = TWINS, repeats: int = 5, slow_state: float = 0.3,
             machines: tuple[str, ...] = ("",), machine_slowdown: dict[str, float] | None = None) -> Path:
    """A complete run directory under root/run_id; `slowdown` multiplies every ort-cpu latency.

    Each ok cell also gets `repeats` worker processes (repeats/rounds tables) of 4 rounds each;
    a fraction `slow_state` of the rounds ran in the machine's slow state (probe 1.8x, calls 1.5x),
    as on the CI VM, and the process figures spread by 1%. `machines`: the kinds of machine (Ray
    tags) every cell ran on, "" for the run's own; `machine_slowdown` multiplies a kind's ort-cpu
    latencies on top of `slowdown`."""
    rng = np.random.default_rng(seed)
    prng = np.random.default_rng(1234)  # parity is deterministic: the same in every rerun
    run_dir = root / run_id
    (run_dir / "cells").mkdir(parents=True)
    rows, parity, training, reps, rounds = [], [], [], [], []
    rrng = np.random.default_rng(seed + 10_000)  # processes and rounds: their own stream
    for twin in twins:
        for art, (exporter, source, runtimes) in ARTIFACTS.items():
            for rt in runtimes:
                for batch, seq, tag in ((b, s, m) for b in BATCHES for s in SEQS for m in machines):
                    cell_id = f"{twin}-{art}-{rt}-cpu-b{batch}-s{seq}-t1" + (f".{tag.replace(':', '_')}" * bool(tag))
                    base = {"run_id": run_id, "twin": twin, "artifact": art, "exporter": exporter,
                            "source": source, "precision": "fp32", "runtime": rt, "device": "cpu",
                            "batch": batch, "seq_len": seq, "threads": 1, "cell_id": cell_id, "machine": tag}
                    if twin == "mlp" and rt == "openvino" and art == "tf2onnx" and batch == 32:
                        rows.append(dict(base, status="failed", iterations=0,
                                         error="RuntimeError: Exception from src/core | shape mismatch"))
                        continue
                    over, per_tok = COST[rt]
                    median = over + per_tok * batch * seq * (2.0 if twin == "lstm" else 1.0)
                    if rt == "ort-cpu":
                        median *= slowdown * (machine_slowdown or {}).get(tag, 1.0)
                    ns = draw_samples(rng, median, n_samples)
                    np.save(run_dir / "cells" / f"{cell_id}.npy", ns)
                    stats = summarize(ns, batch)
                    status_ = "ok"
                    err = ""
                    if twin == "lstm" and rt == "tf-function" and batch == 1 and seq == 16:
                        status_, err = "invalid", "spread (IQR/median) 0.620 > max_spread 0.5"
                    for r in range(repeats if status_ == "ok" else 0):
                        figure = median * float(rrng.lognormal(0.0, 0.01)) / 1e3
                        reps.append(dict(base, status="ok", error="", repeat=r, p50_ms=figure, fast_p50_ms=figure,
                                         rounds=4))
                        for k in range(4):
                            slow = bool(rrng.random() < slow_state)
                            rounds.append(dict(base, repeat=r, round=k, count=50,
                                               probe_py_us=float(rrng.normal(90 if slow else 50, 1)),
                                               probe_np_us=6.0, p50_ms=figure * (1.5 if slow else 1.0)))
                    rows.append(dict(base, **stats, status=status_, error=err, warmup_iters=5,
                                     cold_load_ms=float(rng.uniform(20, 400)),
                                     cold_first_run_ms=float(rng.uniform(1, 50)),
                                     peak_rss_mb=float(rng.uniform(300, 900)), gpu_peak_mb=None,
                                     flops=float(batch * seq * 1e5), io_in_timing=False,
                                     threads_actual=1, runtime_settings={"intra_op": 1},
                                     samples_file=f"cells/{cell_id}.npy"))
            # parity: one row per artifact x runtime x eval set
            for rt in runtimes:
                for inputs in ("val", "edge"):
                    max_abs = float(10 ** prng.uniform(-7, -5)) * extra_parity
                    verdict = "PASS" if max_abs < 1e-4 else "FAIL"
                    parity.append({"run_id": run_id, "twin": twin, "artifact": art, "exporter": exporter,
                                   "precision": "fp32", "runtime": rt, "device": "cpu", "profile": "fp32",
                                   "inputs": inputs, "n": 8, "max_abs": max_abs, "max_rel": max_abs * 10,
                                   "mean_abs": max_abs / 5, "rmse": max_abs / 4, "cosine": 1.0,
                                   "argmax_agree": 1.0, "worst_index": 3, "atol": 1e-4, "rtol": 1e-3,
                                   "verdict": verdict, "first_divergent_layer": "", "error": "",
                                   "profile_reason": "fp32 everywhere"})
        for fw in ("torch", "keras"):
            for epoch in (1, 2, 3):
                loss = 0.69 * 0.8 ** epoch + (0.001 if fw == "keras" else 0.0)
                training.append({"run_id": run_id, "twin": twin, "framework": fw, "mode": "synced",
                                 "epoch": epoch, "train_loss": loss, "val_loss": loss * 1.1,
                                 "val_acc": 0.5 + 0.1 * epoch, "val_token_acc": None, "seconds": 0.4})
    rows.append({"run_id": run_id, "twin": twins[0], "artifact": "torch-dynamo", "exporter": "torch-dynamo",
                 "source": "torch", "precision": "fp32", "runtime": "ort-cuda", "device": "cuda", "batch": 1,
                 "seq_len": 16, "threads": 1, "status": "skipped", "error": "no CUDA device here"})
    parity.append({"run_id": run_id, "twin": twins[0], "artifact": "torch-dynamo", "exporter": "torch-dynamo",
                   "precision": "fp32", "runtime": "ort-cuda", "device": "cuda", "profile": "fp32",
                   "inputs": "val", "verdict": "SKIP", "error": "no CUDA device here"})
    import pandas as pd

    write_table(pd.DataFrame(rows), run_dir, "results")
    write_table(pd.DataFrame(parity), run_dir, "parity")
    write_table(pd.DataFrame(training), run_dir, "training")
    if reps:
        write_table(pd.DataFrame(reps), run_dir, "repeats")
        write_table(pd.DataFrame(rounds), run_dir, "rounds")
    manifest = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "created": "2026-11-23T14:00:00+00:00",
                "status": status, "config": {"batches": list(BATCHES), "seq_lens": list(SEQS)},
                "versions": dict(versions or VERSIONS), "machine": dict(machine or MACHINE),
                "git_commit": "0123456789abcdef", "parity_verdict": "PASS",
                "timings": {"build_s": 10.0, "bench_s": 50.0, "total_s": 61.0}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run_dir


def _pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def assert_valid_tables(md: str) -> int:
    """Every table row has the header's number of unescaped pipes; returns the number of tables."""
    lines = md.splitlines()
    n_tables = 0
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|( *-+:? *\|)+$", lines[i + 1]):
            n_tables += 1
            want = _pipes(lines[i])
            assert _pipes(lines[i + 1]) == want, lines[i + 1]
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                assert _pipes(lines[j]) == want, lines[j]
                j += 1
            assert j == len(lines) or lines[j] == "", f"table not followed by a blank line: {lines[j]!r}"
            i = j
        else:
            assert not lines[i].startswith("|"), f"table row outside a table: {lines[i]!r}"
            i += 1
    return n_tables


def tiny_onnx(path: Path, vocab: int = 50, dim: int = 16, classes: int = 2, hidden: int = 32) -> Path:
    """A tiny token classifier (Gather -> ReduceMean -> MatMul -> Add) with input "tokens" int64 [B, S]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((vocab, dim)).astype(np.float32), "emb"),
             numpy_helper.from_array(rng.standard_normal((dim, hidden)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((hidden, classes)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(classes, np.float32), "b2"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [helper.make_node("Gather", ["emb", "tokens"], ["e"]),
             helper.make_node("ReduceMean", ["e", "axes"], ["m"], keepdims=0),
             helper.make_node("MatMul", ["m", "w1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["z"]),
             helper.make_node("Add", ["z", "b2"], ["logits"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("tokens", TensorProto.INT64,
                                                                             ["batch", "seq"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
