"""Helpers shared by the test folders (tests/ is on sys.path: pytest's rootdir conftest)."""

from __future__ import annotations


def small_run_toml(*, batches: list[int], max_s: float, repeats: int) -> str:
    """The config of a small real run: the lstm twin trained one epoch on 200 synthetic texts, its
    TorchScript ONNX file on ORT (CPU), short timing windows; seconds of work."""
    return f"""
twins = ["lstm"]
exporters = ["torch-script"]
runtimes = ["ort-cpu"]
batches = {batches}
seq_lens = [8]
calibration = false
out_dir = "runs"
[training]
epochs = 1
[timing]
min_iters = 5
min_s = 0.05
max_s = {max_s}
repeats = {repeats}
[data]
size = 200
"""
