"""Every variant of every twin x exporter loads and runs in ORT CPU, close to its fp32 base; the fp16
variant (ONNX Runtime's converter) passes parity under the fp16 profile for every twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporters_testlib import VOCAB, shapes_for, tokens
from twinbench.core.errors import ConfigError
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.variants import VARIANTS, get_variant

pytestmark = pytest.mark.slow

#: Max abs error vs the fp32 file, relative to the fp32 logits' scale (never widened to pass).
BOUND = {"ort-opt": 1e-5, "fp16": 2e-2, "int8": 0.25}


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"tokens": x})[0]


_MADE: dict[tuple[str, str], Artifact] = {}


def _variant(base: Artifact, variant: str, run_dir: Path) -> Artifact:
    """The variant of `base`, made once per session (several tests read the same file)."""
    key = (base.path, variant)
    if key not in _MADE:
        _MADE[key] = VARIANTS[variant](base, run_dir)
    return _MADE[key]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_runs_close_to_base(exported, variant: str, run_dir: Path) -> None:
    b, base = exported
    art = _variant(base, variant, run_dir)
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
    art = _variant(base, "fp16", run_dir)
    model = onnx.load(str(art.abspath(run_dir)))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)


def test_fp16_variant_passes_parity_under_the_fp16_profile(exported, run_dir: Path) -> None:
    """The fp16 file against the twin's float64 torch golden on the parity batches (the edge cases
    included), judged by the profile a run would choose for it; the bounds are never widened.
    Keras-sourced files (tf2onnx) hold the same weights: the torch model's were copied into Keras."""
    from twinbench.bench.parity.compare import compare
    from twinbench.bench.parity.inputs import golden_outputs, parity_inputs
    from twinbench.bench.parity.profiles import choose_profile

    b, base = exported
    art = _variant(base, "fp16", run_dir)
    profile = choose_profile(art.precision, "ort-cpu", "cpu")
    assert profile == "fp16" and art.meta["converter"] == "onnxruntime.transformers.float16"
    batches = parity_inputs(tokens(16, b.twin.fixed_length or 12, seed=3), VOCAB, b.twin)
    golden = golden_outputs(b.twin, b.torch_model, batches)
    for name, x in batches.items():
        got = compare(golden[name], _run(art.abspath(run_dir), x), profile)
        assert got["verdict"] == "PASS", (name, got["max_abs"], got["error"])


def test_unknown_variant() -> None:
    with pytest.raises(ConfigError, match="unknown variant"):
        get_variant("int4")
