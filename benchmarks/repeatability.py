"""Repeatability: the same cell measured in N fresh worker processes, one after the other.
Prints each run's median latency and the spread (max - min) / median in %. Target: within 2%.

Usage: python benchmarks/repeatability.py [--runtime ort-cpu] [--runs 5] [--batch 1] [--seq 16]
The model is the `lstm` twin (default sizes), exported with TorchScript to ONNX for ONNX runtimes
(or saved natively for torch / keras runtimes)."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from pathlib import Path


def _artifacts(run_dir: Path, vocab: int) -> dict:
    import torch

    from twinbench.exporters.artifact import Artifact
    from twinbench.exporters.native import save_native
    from twinbench.models.registry import get_twin

    twin = get_twin("lstm", vocab_size=vocab)
    torch.manual_seed(0)
    tm = twin.build_torch(twin.config).eval()
    out = run_dir / "artifacts" / twin.name
    out.mkdir(parents=True)
    onnx_path = out / "torch-script.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (torch.randint(2, vocab, (1, 16)),), str(onnx_path), input_names=["tokens"],
                          output_names=["logits"], dynamic_axes={"tokens": {0: "batch", 1: "seq"}},
                          opset_version=17, dynamo=False)
    arts = {"onnx": Artifact(name="torch-script", kind="onnx", path=str(onnx_path.relative_to(run_dir)),
                             twin=twin.name, source="torch", exporter="torch-script", twin_config=twin.config_dict())}
    return arts, twin, tm, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="ort-cpu")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--min-s", type=float, default=1.0)
    args = ap.parse_args()

    from twinbench.bench.cells import plan_cells
    from twinbench.bench.runtimes import get_runtime
    from twinbench.bench.timing import TimingPlan
    from twinbench.bench.worker import run_cells

    run_dir = Path(tempfile.mkdtemp(prefix="twinbench-repeat-"))
    arts, twin, tm, out = _artifacts(run_dir, vocab=1000)
    kind = sorted(get_runtime(args.runtime).accepts)[0]
    if kind != "onnx":
        import keras  # noqa: F401  (save_native needs the keras twin too)

        from twinbench.exporters.native import save_native

        km = twin.build_keras(twin.config)
        twin.torch_to_keras(tm, km)
        arts.update({a.kind: a for a in save_native(twin, tm, km, out, run_dir)})
    plan = TimingPlan(min_iters=100, min_s=args.min_s, max_s=max(10.0, args.min_s * 2))
    specs, skipped = plan_cells(run_dir, [arts[kind]], [args.runtime], ["cpu"], [args.batch], [args.seq], [1],
                                plan, {}, [], 1000, parity=False)
    if skipped:
        print(f"skipped: {skipped[0]['error']}")
        return 2
    medians = []
    for i in range(args.runs):
        row = run_cells(specs).iloc[0]
        if row["status"] == "failed":
            print(f"run {i + 1}: failed: {row['error']}")
            return 1
        medians.append(float(row["p50_ms"]))
        print(f"run {i + 1}: p50 {row['p50_ms'] * 1e3:9.2f} us  mean {row['mean_ms'] * 1e3:9.2f} us  "
              f"cv {row['cv']:.3f}  n={row['iterations']}  ({row['status']})")
    mid = statistics.median(medians)
    spread = (max(medians) - min(medians)) / mid * 100
    print(f"{args.runtime} b{args.batch} s{args.seq}: median of medians {mid * 1e3:.2f} us, "
          f"spread {spread:.2f}% across {args.runs} fresh workers (target <= 2%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
