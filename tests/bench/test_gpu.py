"""GPU paths: torch cuda, ort-cuda / ort-trt (I/O binding), TF on the GPU. Marked `gpu`: the shared
conftest skips them with a reason where no CUDA device exists."""

from __future__ import annotations

import json

import numpy as np
import pytest


GPU_RUNTIMES = ["keras-eager", "ort-cuda", "ort-trt", "tf-function", "torch"]


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_RUNTIMES)
def test_gpu_runtime_matches_torch_with_tf32_off(name: str, tiny_run) -> None:
    s = tiny_run.session(name, "cuda")
    try:
        for batch_name, x in tiny_run.batches.items():
            call = s.bind({"tokens": x})
            result = call()
            s.sync()
            np.testing.assert_allclose(s.fetch(result)[0], tiny_run.reference[batch_name], rtol=1e-4, atol=1e-4)
        info = s.info()
        assert info["io_in_timing"] is False
        assert info.get("allow_tf32") is False  # so parity's profile choice can rely on fp32
        json.dumps(info, default=str)
    finally:
        s.close()


@pytest.mark.gpu
def test_gpu_cell_records_device_peak(tiny_run) -> None:
    from twinbench.bench.cells import plan_cells
    from twinbench.bench.timing import TimingPlan
    from twinbench.bench.runner import run_cells

    specs, skipped = plan_cells(tiny_run.run_dir, [tiny_run.artifacts["torch"]], ["torch"], ["cuda"], [4], [6], [1],
                                TimingPlan(min_iters=5, min_s=0.05, max_s=2), {}, [], 40)
    if skipped:
        pytest.skip(skipped[0]["error"])
    row = run_cells(specs)[0].row
    assert row["status"] in ("ok", "invalid"), row["error"]
    assert row["gpu_peak_mb"] > 0
