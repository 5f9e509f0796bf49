"""Bring your own ONNX file: copy it into the run, check it, and describe it as an Artifact."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from twinbench.core.errors import ConfigError, ExportError, summary
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.finalize import io_signature
from twinbench.exporters.inspect import node_count, op_histogram
from twinbench.exporters.onnx_inputs import embedding_rows, input_roles, tokens_input
from twinbench.exporters.precision import graph_precision

if TYPE_CHECKING:
    import onnx


def load_checked(path: Path, error: type[Exception], label: str, *, reason_limit: int,
                 checker_limit: int) -> "onnx.ModelProto":
    """A user's ONNX file loaded and passed through `onnx.checker` (full check), or `error` with one
    line starting with `label`: the one place the suite reads a file it did not write. Preflight
    (twinbench/preflight.py) and the exporter below both ask it."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError, the loader OSError/ValueError
        why = f"{type(exc).__name__}: {summary(exc, reason_limit)}" if reason_limit else type(exc).__name__
        raise error(f"{label}: not a readable ONNX model ({why})") from None
    if not model.graph.node and not model.graph.output:
        raise error(f"{label}: empty or not an ONNX model")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise error(f"{label}: fails the ONNX checker: {summary(exc, checker_limit)}") from None
    return model


def describe_inputs(model: "onnx.ModelProto", declared: Mapping[str, str] | None, label: str) -> dict[str, Any]:
    """What a worker needs to feed the file: each input's role (exporters/onnx_inputs.py), the
    vocabulary of its embedding table when it has one, and the precision read from the graph. A
    file whose roles cannot be told is still described (preflight refuses it before a run; the
    reason is kept in `input_roles_error`)."""
    precision, why = graph_precision(model)
    meta: dict[str, Any] = {"precision_reason": why}
    try:
        roles = input_roles(model, declared, label=label)
    except ConfigError as exc:
        return {"precision": precision, "meta": {**meta, "input_roles_error": str(exc)}}
    meta["input_roles"] = [r.to_dict() for r in roles]
    rows = embedding_rows(model, tokens_input(roles).name)
    if rows:
        meta["vocab_size"] = rows
    return {"precision": precision, "meta": meta}


def from_user_onnx(path: str | Path, run_dir: str | Path, *, twin: str = "user", name: str | None = None,
                   declared_inputs: Mapping[str, str] | None = None) -> Artifact:
    """Copy `path` to artifacts/<twin>/<name>.onnx, check it and record its inputs/outputs, the
    role of each input (`declared_inputs`: the config's `[onnx_inputs]`) and its precision.

    ConfigError when the file is missing; ExportError (one line) when it is not a valid ONNX model.
    """

    src = Path(path)
    if not src.is_file():
        raise ConfigError(f"user ONNX file {src}: no such file")
    model = load_checked(src, ExportError, f"user ONNX file {src}", reason_limit=0, checker_limit=300)
    described = describe_inputs(model, declared_inputs, f"onnx: {src}")
    name = name or src.stem
    run_dir = Path(run_dir)
    dst = run_dir / "artifacts" / twin / f"{name}.onnx"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    art = Artifact(
        name=name, kind="onnx", path=dst.relative_to(run_dir).as_posix(), twin=twin, source="user",
        exporter="user", precision=described["precision"],
        meta={**described["meta"], "original_path": str(src.resolve()), "opset": opsets.get("ai.onnx"), "opsets": opsets,
              "bytes": dst.stat().st_size, "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
              "node_count": node_count(model), "op_histogram": op_histogram(model),
              "producer": f"{model.producer_name} {model.producer_version}".strip(),
              **io_signature(model)},
    )
    art.write_sidecar(run_dir)
    return art
