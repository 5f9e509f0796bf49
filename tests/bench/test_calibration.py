"""The calibration Add model is valid ONNX and runs on ort-cpu through the normal session path."""

from __future__ import annotations

import numpy as np

from twinbench.bench.calibration import calibration_artifact
from twinbench.bench.runtimes import get_runtime
from twinbench.bench.runtimes.base import LoadOptions


def test_add_model_runs_on_ort_cpu(tmp_path) -> None:
    art = calibration_artifact(tmp_path)
    assert art.kind == "onnx" and (tmp_path / art.path).is_file()
    s = get_runtime("ort-cpu").load(art, LoadOptions(threads=1, run_dir=str(tmp_path)))
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    out = s.fetch(s.bind({"tokens": x})())[0]
    np.testing.assert_array_equal(out, x + 1)
