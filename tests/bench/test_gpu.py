"""GPU paths: torch cuda, ort-cuda / ort-trt (I/O binding), TF on the GPU. Marked `gpu`: the shared
conftest skips them with a reason where no CUDA device exists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twinbench.bench.runtimes import get_runtime, unavailable_reason
from twinbench.bench.runtimes.base import LoadOptions

_ARTIFACT = {"torch": "torch", "ort-cuda": "torch-script", "ort-trt": "torch-script", "tf-function": "keras",
             "keras-eager": "keras"}


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(_ARTIFACT))
def test_gpu_runtime_matches_torch_with_tf32_off(name: str, tiny_run) -> None:
    rt = get_runtime(name)
    reason = unavailable_reason(rt)
    if reason:
        pytest.skip(f"{name} unavailable here: {reason}")
    if "cuda" not in rt.devices():
        pytest.skip(f"{name} sees no CUDA device")
    s = rt.load(tiny_run.artifacts[_ARTIFACT[name]],
                LoadOptions(device="cuda", threads=1, run_dir=str(tiny_run.run_dir)))
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
