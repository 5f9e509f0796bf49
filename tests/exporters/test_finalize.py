"""Graph fixes finish_onnx applies to every exported file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twinbench.exporters.finalize import alias_loop_passthroughs


def _loop_with_passthrough():
    """Sum x over 3 iterations, carrying the invariant `step` through the body by name (as tf2onnx does)."""
    import onnx
    from onnx import TensorProto, helper

    f = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)  # noqa: E731
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "step_in"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), f("acc_in", [2]), f("step_in", [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), f("acc_out", [2]), f("step_in", [2])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "acc0", "x"], ["acc", "step"], body=body)],
        "g", [f("x", [2]), f("acc0", [2])], [f("acc", [2])],
        initializer=[helper.make_tensor("M", TensorProto.INT64, [], [3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_passthrough_outputs_get_an_identity_and_values_do_not_change() -> None:
    import onnx
    import onnxruntime as ort

    model = _loop_with_passthrough()
    feed = {"x": np.array([1.0, 2.0], np.float32), "acc0": np.zeros(2, np.float32)}
    before = ort.InferenceSession(model.SerializeToString()).run(None, feed)[0]
    assert alias_loop_passthroughs(model.graph) == 1
    body = model.graph.node[0].attribute[0].g
    assert {o.name for o in body.output}.isdisjoint({i.name for i in body.input})
    onnx.checker.check_model(model, full_check=True)
    after = ort.InferenceSession(model.SerializeToString()).run(None, feed)[0]
    np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(after, [3.0, 6.0])
    assert alias_loop_passthroughs(model.graph) == 0  # idempotent


def test_openvino_reads_the_loop_from_a_file_only_once_fixed(tmp_path: Path) -> None:
    """OpenVINO 2026's file reader refuses the pass-through (its in-memory reader does not)."""
    import onnx
    import openvino as ov

    model = _loop_with_passthrough()
    onnx.save(model, tmp_path / "raw.onnx")
    with pytest.raises(RuntimeError, match="canonical inputs size"):
        ov.Core().compile_model(str(tmp_path / "raw.onnx"), "CPU")
    alias_loop_passthroughs(model.graph)
    onnx.save(model, tmp_path / "fixed.onnx")
    compiled = ov.Core().compile_model(str(tmp_path / "fixed.onnx"), "CPU")
    out = compiled([np.array([1.0, 2.0], np.float32), np.zeros(2, np.float32)])[0]
    np.testing.assert_allclose(out, [3.0, 6.0])
