"""Every variant of every twin x exporter loads and runs in ORT CPU, close to its fp32 base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporters_testlib import shapes_for, tokens
from twinbench.core.errors import ConfigError
from twinbench.exporters.variants import VARIANTS, get_variant

pytestmark = pytest.mark.slow

#: Max abs error vs the fp32 file, relative to the fp32 logits' scale (never widened to pass).
BOUND = {"ort-opt": 1e-5, "fp16": 2e-2, "int8": 0.25}


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"tokens": x})[0]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_runs_close_to_base(exported, variant: str, run_dir: Path) -> None:
    b, base = exported
    art = VARIANTS[variant](base, run_dir)
    assert art.name == f"{base.name}-{variant}" and art.meta["derived_from"] == base.name
    assert art.precision == {"ort-opt": "fp32", "fp16": "fp16", "int8": "int8"}[variant]
    assert art.path == f"artifacts/{b.twin.name}/{art.name}.onnx"
    assert Path(str(art.abspath(run_dir)) + ".json").is_file()
    for batch, seq in shapes_for(b.twin)[::2]:
        x = tokens(batch, seq, seed=seq)
        want = _run(base.abspath(run_dir), x)
        got = _run(art.abspath(run_dir), x)
        assert got.dtype == np.float32 and got.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= BOUND[variant] * scale, (batch, seq)


def test_fp16_keeps_io_types(exported, run_dir: Path) -> None:
    import onnx

    b, base = exported
    art = VARIANTS["fp16"](base, run_dir)
    model = onnx.load(str(art.abspath(run_dir)))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)


def test_unknown_variant() -> None:
    with pytest.raises(ConfigError, match="unknown variant"):
        get_variant("int4")
