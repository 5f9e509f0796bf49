"""A calibration cell in every run: a one-node ONNX Add model on ort-cpu. Its latency is almost
pure harness + runtime call overhead, so a reader sees the floor under every other figure."""

from __future__ import annotations

from pathlib import Path

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
