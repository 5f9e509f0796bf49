"""Derived ONNX artifacts: ORT offline-optimised graph, float16 and int8 (dynamic quantisation).

Each variant is its own Artifact named "<base>-<variant>" next to its base file, with
meta["derived_from"] = base name, and is checked to load and run in ONNX Runtime CPU.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinbench.core.errors import ConfigError, ExportError, summary
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.registry import VARIANTS, Variant, get_variant, register_variant
from twinbench.exporters.finalize import rel_path, set_metadata
from twinbench.exporters.fp16 import convert_fp16
from twinbench.exporters.inspect import node_count, op_histogram

if TYPE_CHECKING:
    import onnx

__all__ = ["VARIANTS", "Variant", "fp16", "get_variant", "int8", "ort_optimized"]

#: ORT level used for "ort-opt": "extended" fuses into com.microsoft ops that only ORT runs.
ORT_OPT_LEVEL = "extended"


def _paths(base: Artifact, run_dir: Path, suffix: str) -> tuple[Path, Path, str]:
    if base.kind != "onnx":
        raise ConfigError(f"variant {suffix}: artifact {base.name!r} is {base.kind}, not onnx")
    src = base.abspath(run_dir)
    if not src.is_file():
        raise ExportError(f"variant {suffix}: base file missing: {src}")
    name = f"{base.name}-{suffix}"
    return src, src.with_name(f"{name}.onnx"), name


def _probe_tokens(base: Artifact) -> Any:
    import numpy as np

    seq = int(base.meta.get("example", {}).get("seq") or base.meta.get("flops_at", {}).get("seq") or 8)
    vocab = int(base.twin_config.get("vocab_size", 2) or 2)
    return np.random.default_rng(0).integers(0, vocab, (2, seq), dtype=np.int64)


_CHILD = """
import os, sys, numpy as np, onnxruntime as ort
x = np.load(sys.argv[1])["tokens"]
outs = {}
for i, path in enumerate(sys.argv[3:]):
    so = ort.SessionOptions(); so.log_severity_level = 3
    if i == 0 and os.environ.get("TWINBENCH_ORT_OPT_OUT"):
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = os.environ["TWINBENCH_ORT_OPT_OUT"]
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    outs[f"o{i}"] = sess.run(None, {sess.get_inputs()[0].name: x})[0]
np.savez(sys.argv[2], **outs)
"""


def _child_run(paths: list[Path], tokens: Any, *, optimize_to: Path | None = None) -> tuple[list[Any], str | None]:
    """Run each file once in ORT CPU in a child process: (outputs, None) or ([], error line).

    A child, because some graphs make ORT abort or segfault (seen: a quantised Gather next to a
    Loop, some fp16 graphs); that must fail one variant, not the whole run."""
    import os
    import subprocess
    import sys
    import tempfile

    import numpy as np

    env = dict(os.environ)
    env.pop("TWINBENCH_ORT_OPT_OUT", None)
    if optimize_to is not None:
        env["TWINBENCH_ORT_OPT_OUT"] = str(optimize_to)
    with tempfile.TemporaryDirectory(prefix="twinbench-probe-") as tmp:
        x_path, out_path = Path(tmp) / "x.npz", Path(tmp) / "out.npz"
        np.savez(x_path, tokens=tokens)
        try:
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(x_path), str(out_path),
                                   *map(str, paths)], capture_output=True, text=True, timeout=300,
                                  env=env)
        except subprocess.TimeoutExpired:
            return [], "ONNX Runtime CPU did not finish in 300 s"
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.strip().splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if "ONNXRuntimeError" in ln), lines[-1] if lines else "")
            return [], f"exit code {proc.returncode}: {why[:400]}"
        with np.load(out_path) as out:
            return [out[f"o{i}"] for i in range(len(paths))], None


def _probe(variant: Path, base: Path, tokens: Any, name: str) -> tuple[Any, Any]:
    outs, err = _child_run([variant, base], tokens)
    if err:
        raise ExportError(f"variant {name}: does not run in ONNX Runtime CPU ({err})")
    return outs[0], outs[1]


def _finish(base: Artifact, run_dir: Path, src: Path, dst: Path, name: str, variant: str,
            precision: str, seconds: float, extra: dict[str, Any]) -> Artifact:
    """Stamp metadata, check it runs in ORT CPU next to its base, and write the sidecar."""
    import numpy as np
    import onnx

    model = onnx.load(str(dst))
    set_metadata(model, {"twinbench.variant": variant, "twinbench.derived_from": base.name})
    onnx.save(model, str(dst))
    got, want = _probe(dst, src, _probe_tokens(base), name)
    if not np.all(np.isfinite(got)):
        raise ExportError(f"variant {name}: non-finite outputs in ONNX Runtime CPU")
    meta = {k: base.meta[k] for k in ("opset", "inputs", "outputs", "weights_hash", "flops", "flops_at",
                                      "example") if k in base.meta}
    meta.update({
        "derived_from": base.name, "variant": variant, "seconds": round(seconds, 4),
        "bytes": dst.stat().st_size, "node_count": node_count(model), "op_histogram": op_histogram(model),
        "probe_max_abs_vs_base": float(np.abs(got.astype(np.float64) - want).max()),
        **extra,
    })
    art = dataclasses.replace(base, name=name, path=rel_path(dst, run_dir), precision=precision, meta=meta)
    art.write_sidecar(run_dir)
    return art


@register_variant("ort-opt")
def ort_optimized(base: Artifact, run_dir: Path) -> Artifact:
    """Graph optimised offline by ORT (level "extended"). Fused ops are com.microsoft contrib ops
    placed for the execution provider that wrote the file: valid for ORT CPU, maybe not elsewhere."""
    import onnxruntime as ort

    run_dir = Path(run_dir)
    src, dst, name = _paths(base, run_dir, "ort-opt")
    t0 = time.perf_counter()
    _, err = _child_run([src], _probe_tokens(base), optimize_to=dst)
    if err or not dst.is_file():
        raise ExportError(f"variant {name}: ORT could not optimise {src.name} ({err})")
    seconds = time.perf_counter() - t0
    return _finish(base, run_dir, src, dst, name, "ort-opt", "fp32", seconds, {
        "ort_level": ORT_OPT_LEVEL, "optimized_for": "onnxruntime CPUExecutionProvider",
        "portable": False, "onnxruntime": ort.__version__,
        "note": "optimised graph may contain EP-specific fused ops; run it only on ORT CPU",
    })


#: Ops kept in fp32 from the start of the fp16 conversion. Transpose: ORT 1.32 CPU segfaults (no error to
#: read) on the fp16 Transpose after the tagger's bidirectional LSTM (torch-dynamo export). RNNs: older ORT
#: CPU had no fp16 kernels for them; 1.32 has, but a recurrence rounding its state to fp16 at every step
#: drifts with the sequence length, so they stay fp32 by choice.
CPU_FP32_OPS = ("LSTM", "GRU", "RNN", "Transpose")
#: Ops whose bodies are subgraphs.
SUBGRAPH_OPS = frozenset({"Loop", "If", "Scan"})
_MISSING_KERNEL = re.compile(r"Could not find an implementation for (\w+)\(")


def _cpu_fp16_blocklist(model: "onnx.ModelProto", probe: Any, tmp: Path,
                        tries: int = 12) -> tuple["onnx.ModelProto", list[str]]:
    """Convert (ONNX Runtime's converter, exporters/fp16.py), ask ORT CPU in a child which fp16
    kernels are missing, keep those in fp32, repeat. A child, because a graph ORT cannot run may
    crash it rather than say so."""
    import onnx

    keep: list[str] = list(CPU_FP32_OPS)
    for _ in range(tries):
        half = convert_fp16(model, keep_fp32=keep)
        onnx.save(half, str(tmp))
        _, err = _child_run([tmp], probe)
        if err is None:
            return half, keep
        m = _MISSING_KERNEL.search(err)
        if not m or m.group(1) in keep:
            raise ExportError(f"variant fp16: ORT CPU rejects the fp16 graph ({err})")
        keep.append(m.group(1))
    raise ExportError(f"variant fp16: too many ops without fp16 CPU kernels ({', '.join(keep)})")


@register_variant("fp16")
def fp16(base: Artifact, run_dir: Path) -> Artifact:
    """float16 weights and activations, int64 tokens in and float32 logits out (keep_io_types)."""
    import onnx
    import onnxruntime as ort

    run_dir = Path(run_dir)
    src, dst, name = _paths(base, run_dir, "fp16")
    t0 = time.perf_counter()
    try:
        half, keep = _cpu_fp16_blocklist(onnx.load(str(src)), _probe_tokens(base), dst)
        onnx.checker.check_model(half)
    except Exception:
        dst.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - t0
    present = op_histogram(onnx.load(str(src)))
    keep = [op for op in keep if op in present]
    return _finish(base, run_dir, src, dst, name, "fp16", "fp16", seconds, {
        "keep_io_types": True, "fp32_ops": keep, "converter": "onnxruntime.transformers.float16",
        "onnxruntime": ort.__version__,
        "note": "ops in fp32_ops have no (working) fp16 kernel in ORT CPU and run in fp32 between Casts",
    })


#: Ops quantised by "int8": weights to int8, activations quantised on the fly.
INT8_OPS = ["MatMul", "Gemm", "LSTM", "Gather", "Attention"]


@register_variant("int8")
def int8(base: Artifact, run_dir: Path) -> Artifact:
    """Dynamic quantisation (int8 weights, per-call activation scales) of MatMul/Gemm/LSTM/Gather."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    run_dir = Path(run_dir)
    src, dst, name = _paths(base, run_dir, "int8")
    import onnx

    ops = list(INT8_OPS)
    if SUBGRAPH_OPS & set(op_histogram(onnx.load(str(src)))):
        ops.remove("Gather")  # ORT 1.32 aborts on a quantised Gather in a graph with a Loop
    t0 = time.perf_counter()
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=ops, weight_type=QuantType.QInt8)
    except Exception as exc:
        raise ExportError(f"variant {name}: quantize_dynamic failed: {summary(exc, 300)}") from None
    seconds = time.perf_counter() - t0
    return _finish(base, run_dir, src, dst, name, "int8", "int8", seconds, {
        "quantization": "dynamic", "weight_type": "QInt8", "op_types": ops,
        "onnxruntime": ort.__version__,
    })
