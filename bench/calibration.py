"""A calibration cell in every run: a one-node ONNX Add model on ort-cpu. Its latency is almost
pure harness + runtime call overhead, so a reader sees the floor under every other figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from twinbench.exporters.artifact import Artifact

CALIBRATION_TWIN = "_calibration"
CALIBRATION_RUNTIME = "ort-cpu"


def write_add_model(path: str | Path) -> Path:
    """tokens (int64 [batch, seq]) + 1 -> logits (int64): the cheapest graph that still runs."""
    import onnx
    from onnx import TensorProto, helper

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    one = helper.make_tensor("one", TensorProto.INT64, [], [1])
    graph = helper.make_graph(
        [helper.make_node("Add", ["tokens", "one"], ["logits"])], "calibration_add",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.INT64, ["batch", "seq"])], initializer=[one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="twinbench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def calibration_artifact(run_dir: str | Path) -> Artifact:
    """Write the model under artifacts/_calibration/ and describe it as an artifact."""
    rel = f"artifacts/{CALIBRATION_TWIN}/add.onnx"
    write_add_model(Path(run_dir) / rel)
    return Artifact(name="calibration-add", kind="onnx", path=rel, twin=CALIBRATION_TWIN, source="user",
                    exporter="onnx-helper", meta={"purpose": "harness overhead floor"})


def calibration_cell(run_dir: str | Path, *, seq_len: int, threads: int,
                     common: Mapping[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """(CellSpec, None) or (None, skipped row) when ort-cpu cannot run here."""
    from twinbench.bench.cells import CellSpec, make_cell_id, skipped_artifact_row
    from twinbench.bench.runtimes import get_runtime, unavailable_reason

    art = calibration_artifact(run_dir)
    reason = unavailable_reason(get_runtime(CALIBRATION_RUNTIME))
    if reason:
        return None, skipped_artifact_row(art, CALIBRATION_RUNTIME, "cpu", reason)
    spec = CellSpec(cell_id=make_cell_id(art, CALIBRATION_RUNTIME, "cpu", 1, seq_len, threads),
                    artifact=art.to_dict(), runtime=CALIBRATION_RUNTIME, device="cpu", batch=1, seq_len=seq_len,
                    threads=threads, settings={}, parity_inputs=None, **dict(common))
    return spec, None
