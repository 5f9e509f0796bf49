"""Fixtures for the runtime / timing / worker tests: a tiny real run directory with native
artifacts (torch + keras twins of one lstm, same weights) and a TorchScript-exported ONNX file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twinbench.bench.runtimes import get_runtime, unavailable_reason
from twinbench.bench.runtimes.base import LoadOptions

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VOCAB = 40
SEQ = 6
HERE = Path(__file__).parent
#: The artifact of the tiny run each kind of runtime loads.
ARTIFACT_FOR_KIND = {"onnx": "torch-script", "torch": "torch", "keras": "keras"}


@dataclass
class TinyRun:
    run_dir: Path
    artifacts: dict[str, Any]        # name -> Artifact ("torch", "keras", "torch-script")
    batches: dict[str, np.ndarray]   # parity inputs
    reference: dict[str, np.ndarray]  # torch float32 outputs per batch

    def session(self, name: str, device: str = "cpu", settings: dict | None = None) -> Any:
        """Runtime `name` loaded on `device` with the artifact of its kind, one thread; the test is
        skipped where the runtime is unavailable or lacks the device."""
        rt = get_runtime(name)
        reason = unavailable_reason(rt)
        if reason:
            pytest.skip(f"{name} unavailable here: {reason}")
        if device not in rt.devices():
            pytest.skip(f"{name} has no {device} device (devices: {rt.devices()})")
        art = self.artifacts[ARTIFACT_FOR_KIND[sorted(rt.accepts)[0]]]
        return rt.load(art, LoadOptions(device=device, threads=1, run_dir=str(self.run_dir), settings=settings or {}))


def _export_onnx(torch_model: Any, path: Path) -> None:
    import torch

    example = torch.randint(2, VOCAB, (1, SEQ))
    torch.onnx.export(torch_model, (example,), str(path), input_names=["tokens"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch", 1: "seq"}}, opset_version=17, dynamo=False)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    import warnings

    import torch

    from twinbench.exporters.artifact import Artifact
    from twinbench.exporters.native import save_native
    from twinbench.models.registry import get_twin

    run_dir = tmp_path_factory.mktemp("run")
    twin = get_twin("lstm", vocab_size=VOCAB, embed_dim=8, hidden=8, num_classes=3)
    torch.manual_seed(0)
    tm = twin.build_torch(twin.config).eval()
    km = twin.build_keras(twin.config)
    twin.torch_to_keras(tm, km)
    out_dir = run_dir / "artifacts" / twin.name
    arts = {a.name: a for a in save_native(twin, tm, km, out_dir, run_dir)}
    onnx_path = out_dir / "torch-script.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export_onnx(tm, onnx_path)
    arts["torch-script"] = Artifact(name="torch-script", kind="onnx", path=str(onnx_path.relative_to(run_dir)),
                                    twin=twin.name, source="torch", exporter="torch-script",
                                    twin_config=twin.config_dict())
    rng = np.random.default_rng(7)
    batches = {"val": rng.integers(2, VOCAB, (4, SEQ)), "batch1": rng.integers(2, VOCAB, (1, SEQ)),
               "long": rng.integers(2, VOCAB, (2, 2 * SEQ))}
    batches = {k: v.astype(np.int64) for k, v in batches.items()}
    np.savez(out_dir / "parity_inputs.npz", **batches)
    with torch.no_grad():
        reference = {k: tm(torch.from_numpy(v)).numpy() for k, v in batches.items()}
    return TinyRun(run_dir=run_dir, artifacts=arts, batches=batches, reference=reference)


@pytest.fixture()
def bad_runtimes() -> Any:
    """Registers the deliberately broken test runtimes in this process and removes them afterwards."""
    from twinbench.bench.runtimes import RUNTIMES
    from twinbench.models.registry import load_twin_module

    path = HERE / "bad_runtimes.py"
    before = set(RUNTIMES)
    load_twin_module(str(path))
    import sys

    for mod in [m for m in sys.modules if m.startswith("twinbench_user_bad_runtimes")]:
        sys.modules[mod].register_all()
    yield str(path)
    for name in set(RUNTIMES) - before:
        RUNTIMES.remove(name)
