"""Done-when of `twinbench compare`: A/A is quiet, a 10% slowdown is caught, every time.

Each try builds two real run directories from real samples of a small ONNX MatMul/Add model in
ONNX Runtime (timed with bench/timing.py `measure`) and compares them with `compare_runs`:

- A/A: the same model in two sessions (a run and its rerun);
- A/B: the candidate's timed call does the same work plus a spin delay of 10% of the baseline's
  median in its latest round (a real, measured 10% slowdown, not a faked number; tracking the
  latest round keeps it 10% when the machine's load changes during the try).

Baseline and candidate are measured in interleaved short rounds of ~10 ms (A B, B A, ...), the
way a careful CI job alternates them, so load from other processes on a shared machine lands on
both sides instead of looking like a regression.

Usage: python benchmarks/ab_regression.py [--tries 20] [--slowdown 0.10] [--rounds 40]
Prints both counts; exits 0 when A/A flags 0/N and A/B flags N/N, else 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

BATCHES = (1, 8)
DIM = 384


def build_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((DIM, DIM)).astype(np.float32) / DIM ** 0.5, "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((DIM, DIM)).astype(np.float32) / DIM ** 0.5, "w2")
    b = numpy_helper.from_array(np.zeros(DIM, np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
             helper.make_node("MatMul", ["a", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "ab", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", DIM])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", DIM])], [w1, w2, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def spin(ns: int) -> None:
    end = time.perf_counter_ns() + ns
    while time.perf_counter_ns() < end:
        pass


def make_call(sess: Any, batch: int, delay: dict[int, int] | None = None) -> Callable[[], Any]:
    """session.run on fixed feeds; with `delay`, plus a spin of delay[batch] ns after it."""
    x = np.random.default_rng(batch).standard_normal((batch, DIM)).astype(np.float32)
    feeds = {"x": x}
    if delay is None:
        return lambda: sess.run(None, feeds)

    def slower() -> Any:
        out = sess.run(None, feeds)
        spin(delay[batch])
        return out

    return slower


def interleaved(calls_a: dict[int, Callable], calls_b: dict[int, Callable], rounds: int,
                on_a: Callable[[int, np.ndarray], None] | None = None) -> tuple[dict, dict]:
    """Per batch, samples of A and B measured in alternating short rounds (A B, B A, A B, ...).

    `on_a(batch, ns)` sees every round of A as soon as it is measured (to track the load)."""
    from twinbench.bench.timing import TimingPlan, measure

    plan = TimingPlan(warmup_iters=2, warmup_s=0.0, min_iters=10, min_s=0.01, max_s=0.2)
    a = {k: [] for k in calls_a}
    b = {k: [] for k in calls_b}
    for r in range(rounds):
        for batch in calls_a:
            first, second = (calls_a, calls_b) if r % 2 == 0 else (calls_b, calls_a)
            for calls in (first, second):
                ns = measure(calls[batch], None, plan)
                if calls is calls_a:
                    a[batch].append(ns)
                    if on_a:
                        on_a(batch, ns)
                else:
                    b[batch].append(ns)
    return ({k: np.concatenate(v) for k, v in a.items()}, {k: np.concatenate(v) for k, v in b.items()})


def write_run(root: Path, run_id: str, samples: dict[int, np.ndarray], machine: dict, versions: dict) -> Path:
    import pandas as pd

    from twinbench.bench.schema import SCHEMA_VERSION
    from twinbench.bench.stats import summarize
    from twinbench.reports.tables import write_table

    run_dir = root / run_id
    (run_dir / "cells").mkdir(parents=True)
    rows = []
    for batch, ns in samples.items():
        cell_id = f"ab-matmul-ort-cpu-cpu-b{batch}-s{DIM}-t1"
        np.save(run_dir / "cells" / f"{cell_id}.npy", ns)
        rows.append(dict(run_id=run_id, twin="ab", artifact="matmul", exporter="onnx", source="onnx",
                         precision="fp32", runtime="ort-cpu", device="cpu", batch=batch, seq_len=DIM, threads=1,
                         status="ok", error="", **summarize(ns, batch), samples_file=f"cells/{cell_id}.npy"))
    write_table(pd.DataFrame(rows), run_dir, "results")
    manifest = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "complete", "config": {},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": versions,
                "machine": machine, "git_commit": None, "timings": {}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--slowdown", type=float, default=0.10)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()

    from twinbench.reports.compare import compare_runs, has_regression
    from twinbench.rundir import library_versions, machine_info

    machine, versions = machine_info(), library_versions()
    t0 = time.perf_counter()
    aa_flags = ab_flags = 0
    aa_ratios: list[float] = []
    ab_ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="twinbench-ab-") as tmp:
        root = Path(tmp)
        model = build_model(root / "ab.onnx")
        for t in range(args.tries):
            base_s, rerun_s, cand_s = session(model), session(model), session(model)
            base = {b: make_call(base_s, b) for b in BATCHES}
            rerun = {b: make_call(rerun_s, b) for b in BATCHES}
            a1, a2 = interleaved(base, rerun, args.rounds)
            # the delay is slowdown x the baseline's median of its latest round, so the candidate does
            # 10% more *time* under whatever load the machine has right now
            delays = {b: int(np.median(a1[b]) * args.slowdown) for b in BATCHES}
            cand = {b: make_call(cand_s, b, delays) for b in BATCHES}

            def track(batch: int, ns: np.ndarray) -> None:
                delays[batch] = int(np.median(ns) * args.slowdown)

            b1, b2 = interleaved(base, cand, args.rounds, on_a=track)
            runs = {name: write_run(root, f"try{t:02d}-{name}", s, machine, versions)
                    for name, s in (("a1", a1), ("a2", a2), ("b1", b1), ("b2", b2))}
            aa = compare_runs(runs["a1"], runs["a2"])
            ab = compare_runs(runs["b1"], runs["b2"])
            aa_flags += has_regression(aa)
            ab_flags += bool((ab["verdict"] == "REGRESSION").all())
            aa_ratios += aa["ratio"].tolist()
            ab_ratios += ab["ratio"].tolist()
            print(f"try {t + 1:2d}: A/A ratios {' '.join(f'{r:.3f}' for r in aa['ratio'])} "
                  f"[{', '.join(aa['verdict'])}]  A/B ratios {' '.join(f'{r:.3f}' for r in ab['ratio'])} "
                  f"[{', '.join(ab['verdict'])}]", flush=True)
    n = args.tries
    print(f"A/A (run vs rerun): {aa_flags}/{n} tries flagged a regression "
          f"(ratios {min(aa_ratios):.3f}..{max(aa_ratios):.3f})")
    print(f"A/B (+{args.slowdown:.0%} slower candidate): {ab_flags}/{n} tries flagged every cell "
          f"(ratios {min(ab_ratios):.3f}..{max(ab_ratios):.3f})")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0 if aa_flags == 0 and ab_flags == n else 1


if __name__ == "__main__":
    sys.exit(main())
