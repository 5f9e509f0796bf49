"""Bring your own ONNX file: copy it into the run, check it, and describe it as an Artifact."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from twinbench.core.errors import ConfigError, ExportError, summary
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.finalize import io_signature
from twinbench.exporters.inspect import node_count, op_histogram
from twinbench.exporters.onnx_inputs import embedding_rows, input_roles, tokens_input
from twinbench.exporters.precision import graph_precision

if TYPE_CHECKING:
    import onnx


def _tensors(graph: "onnx.GraphProto") -> Iterator["onnx.TensorProto"]:
    """Every tensor a graph holds: initializers, sparse ones, and those inside node attributes
    (subgraphs of If/Loop/Scan included)."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def external_tensors(model: "onnx.ModelProto") -> list["onnx.TensorProto"]:
    """The tensors whose bytes live in files beside the model (ONNX external data)."""
    import onnx

    return [t for t in _tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]


def _location(tensor: "onnx.TensorProto") -> str:
    return {e.key: e.value for e in tensor.external_data}.get("location", "")


def external_files(model: "onnx.ModelProto", folder: Path, error: type[Exception], label: str) -> list[str]:
    """The external data files a model names, each checked to be a regular file inside the model's
    folder (a relative path without `..`, no link leading out); `error` in one line otherwise."""
    out: list[str] = []
    root = folder.resolve()
    for tensor in external_tensors(model):
        loc = _location(tensor)
        rel = PurePosixPath(loc.replace("\\", "/"))
        if not loc or rel.is_absolute() or ".." in rel.parts:
            raise error(f"{label}: tensor {tensor.name!r} names external data {loc!r}: it must be a file beside "
                        f"the model (a relative path without '..')")
        path = folder / Path(*rel.parts)
        if not path.resolve().is_relative_to(root) or not path.is_file():
            raise error(f"{label}: tensor {tensor.name!r}: external data file {loc!r} is missing (or not a file "
                        f"inside {folder}); copy it beside the model")
        if loc not in out:
            out.append(loc)
    return out


def load_checked(path: Path, error: type[Exception], label: str, *, reason_limit: int,
                 checker_limit: int) -> "onnx.ModelProto":
    """A user's ONNX file loaded (its graph; external data stays on disk) and passed through
    `onnx.checker` (full check, reading the external data it names), or `error` with one line
    starting with `label`: the one place the suite reads a file it did not write. Preflight
    (twinbench/preflight.py) and the exporter below both ask it."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, the loader OSError/ValueError
        why = f"{type(exc).__name__}: {summary(exc, reason_limit)}" if reason_limit else type(exc).__name__
        raise error(f"{label}: not a readable ONNX model ({why})") from None
    if not model.graph.node and not model.graph.output:
        raise error(f"{label}: empty or not an ONNX model")
    external_files(model, path.parent, error, label)
    try:
        onnx.checker.check_model(str(path) if external_tensors(model) else model, full_check=True)
    except Exception as exc:
        raise error(f"{label}: fails the ONNX checker: {summary(exc, checker_limit)}") from None
    return model


def copy_onnx(src: Path, dst: Path, model: "onnx.ModelProto | None" = None) -> list[Path]:
    """Copy an ONNX file to `dst` with its external data. The data files go, byte for byte, into
    `<dst>.data/` (their names as the model gave them), and the model's locations are rewritten to
    point there, so two models whose data files share a name (`model.data`) never overwrite each
    other. Returns the data files written."""
    import onnx

    model = model if model is not None else onnx.load(str(src), load_external_data=False)
    tensors = external_tensors(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not tensors:
        shutil.copyfile(src, dst)
        return []
    data_dir = dst.with_name(dst.name + ".data")
    if data_dir.exists():
        shutil.rmtree(data_dir)
    model = onnx.ModelProto.FromString(model.SerializeToString())  # the caller's model stays as it was
    written: list[Path] = []
    for tensor in external_tensors(model):
        loc = _location(tensor)
        rel = Path(*PurePosixPath(loc.replace("\\", "/")).parts)
        target = data_dir / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src.parent / rel, target)
            written.append(target)
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = target.relative_to(dst.parent).as_posix()
    onnx.save(model, str(dst))
    return written


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
    """Copy `path` (and its external data) to artifacts/<twin>/<name>.onnx, check it and record its
    inputs/outputs, the role of each input (`declared_inputs`: the config's `[onnx_inputs]`) and its
    precision.

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
    data = copy_onnx(src, dst, model)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    art = Artifact(
        name=name, kind="onnx", path=dst.relative_to(run_dir).as_posix(), twin=twin, source="user",
        exporter="user", precision=described["precision"],
        meta={**described["meta"], "original_path": str(src.resolve()), "opset": opsets.get("ai.onnx"),
              "opsets": opsets, "bytes": dst.stat().st_size + sum(p.stat().st_size for p in data),
              "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
              "extra_files": [p.relative_to(run_dir).as_posix() for p in data],
              "node_count": node_count(model), "op_histogram": op_histogram(model),
              "producer": f"{model.producer_name} {model.producer_version}".strip(),
              **io_signature(model)},
    )
    art.write_sidecar(run_dir)
    return art
