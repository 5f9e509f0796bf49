"""Native artifacts round-trip through the registry; user ONNX files; graph inspection rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporters_testlib import VOCAB, tokens
from twinbench.core.errors import ConfigError, ExportError
from twinbench.exporters.native import load_keras, load_torch, save_native
from twinbench.exporters.user_onnx import from_user_onnx
from twinbench.models.registry import get_twin, list_twins


@pytest.mark.slow
@pytest.mark.parametrize("name", list_twins())
def test_native_round_trip(name: str, tmp_path: Path) -> None:
    import torch

    twin = get_twin(name, vocab_size=VOCAB)
    tm = twin.build_torch(twin.config).eval()
    km = twin.build_keras(twin.config)
    twin.torch_to_keras(tm, km)
    arts = save_native(twin, tm, km, tmp_path / "artifacts" / name, tmp_path)
    assert [a.kind for a in arts] == ["torch", "keras"]
    assert arts[0].path == f"artifacts/{name}/torch.pt" and arts[1].path == f"artifacts/{name}/keras.weights.h5"
    assert all(a.meta["params"] > 0 and len(a.meta["weights_hash"]) == 64 for a in arts)
    x = tokens(3, twin.fixed_length or 9)
    tm2 = load_torch(arts[0], tmp_path)
    assert not tm2.training
    with torch.no_grad():
        np.testing.assert_array_equal(tm2(torch.from_numpy(x)).numpy(), tm(torch.from_numpy(x)).numpy())
    km2 = load_keras(arts[1], tmp_path)
    np.testing.assert_array_equal(np.asarray(km2(x, training=False)), np.asarray(km(x, training=False)))


def test_load_wrong_kind(tmp_path: Path) -> None:
    from twinbench.exporters.artifact import Artifact

    art = Artifact(name="x", kind="onnx", path="a.onnx", twin="lstm", source="torch")
    with pytest.raises(ConfigError, match="kind"):
        load_torch(art, tmp_path)


def _tiny_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_user_onnx(tmp_path: Path) -> None:
    src = tmp_path / "mine.onnx"
    _tiny_onnx(src)
    art = from_user_onnx(src, tmp_path / "run")
    assert art.source == "user" and art.path == "artifacts/user/mine.onnx"
    assert art.meta["inputs"][0]["name"] == "x" and art.meta["outputs"][0]["name"] == "y"
    assert (tmp_path / "run" / art.path).is_file()


@pytest.mark.parametrize("content", [b"", b"not an onnx file at all \x00\xff", b"\x08\x07\x12"])
def test_corrupt_user_onnx_is_one_line_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(ExportError, match="bad.onnx") as info:
        from_user_onnx(bad, tmp_path / "run")
    assert "\n" not in str(info.value)


def test_missing_user_onnx(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        from_user_onnx(tmp_path / "nope.onnx", tmp_path)


def test_flops_rules(tmp_path: Path) -> None:
    """MatMul 2*M*K*N; LSTM 2*4H*(I+H) per step, sequence and direction."""
    import onnx
    from onnx import TensorProto, helper

    from twinbench.exporters.inspect import flops_estimate, node_count, op_histogram

    p = tmp_path / "m.onnx"
    _tiny_onnx(p)
    assert flops_estimate(p, 5, 1) == 2 * 5 * 4 * 3
    assert node_count(p) == 1 and op_histogram(p) == {"MatMul": 1}

    H, I, D = 6, 4, 2
    W = helper.make_tensor("W", TensorProto.FLOAT, [D, 4 * H, I], np.zeros(D * 4 * H * I, np.float32))
    R = helper.make_tensor("R", TensorProto.FLOAT, [D, 4 * H, H], np.zeros(D * 4 * H * H, np.float32))
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=H, direction="bidirectional")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", I])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [W, R])
    lstm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(lstm, str(p))
    # the first input axis is pinned to `batch`, the second to `seq` (here the ONNX layout is [S, B, I])
    assert flops_estimate(p, 7, 3) == 2 * 4 * H * (I + H) * 7 * 3 * D
