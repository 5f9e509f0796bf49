"""Bring your own ONNX file: copy it into the run, check it, and describe it as an Artifact."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from twinbench.errors import ConfigError, ExportError, summary
from twinbench.exporters.artifact import Artifact


def from_user_onnx(path: str | Path, run_dir: str | Path, *, twin: str = "user", name: str | None = None) -> Artifact:
    """Copy `path` to artifacts/<twin>/<name>.onnx, check it and record its inputs/outputs.

    ConfigError when the file is missing; ExportError (one line) when it is not a valid ONNX model.
    """
    import onnx

    from twinbench.exporters.finalize import io_signature
    from twinbench.exporters.inspect import node_count, op_histogram

    src = Path(path)
    if not src.is_file():
        raise ConfigError(f"user ONNX file {src}: no such file")
    try:
        model = onnx.load(str(src))
    except Exception as exc:
        raise ExportError(f"user ONNX file {src}: not a readable ONNX model ({type(exc).__name__})") from None
    if not model.graph.node and not model.graph.output:
        raise ExportError(f"user ONNX file {src}: empty or not an ONNX model")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ExportError(f"user ONNX file {src}: fails the ONNX checker: {summary(exc, 300)}") from None
    name = name or src.stem
    run_dir = Path(run_dir)
    dst = run_dir / "artifacts" / twin / f"{name}.onnx"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    art = Artifact(
        name=name, kind="onnx", path=dst.relative_to(run_dir).as_posix(), twin=twin, source="user",
        exporter="user",
        meta={"original_path": str(src.resolve()), "opset": opsets.get("ai.onnx"), "opsets": opsets,
              "bytes": dst.stat().st_size, "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
              "node_count": node_count(model), "op_histogram": op_histogram(model),
              "producer": f"{model.producer_name} {model.producer_version}".strip(),
              **io_signature(model)},
    )
    art.write_sidecar(run_dir)
    return art
