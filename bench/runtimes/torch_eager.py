"""`torch`: the native PyTorch module in eager mode (inference_mode, explicit thread counts)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from twinbench.bench.runtimes import _util
from twinbench.bench.runtimes import register_runtime
from twinbench.bench.runtimes.base import LoadOptions, Tf32Settings
from twinbench.exporters.artifact import Artifact
from twinbench.core.threads import set_torch_threads

def available() -> str | None:
    return _util.missing("torch")


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


devices = _util.device_probe(available, _has_cuda)


class TorchSession:
    """Holds the module on its device; `bind` copies inputs there outside the timed region."""

    def __init__(self, model: Any, device: str, threads_actual: int, settings: Mapping[str, Any],
                 runtime: str = "torch") -> None:
        import torch

        self.model = model
        self.device = device
        self.threads_actual = threads_actual
        self.settings = dict(settings)
        self.runtime = runtime
        self._cuda = device == "cuda"
        self._torch = torch

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(_util.only_input(feeds), dtype=np.int64)).to(self.device)
        model = self.model
        mode = torch.inference_mode

        def call() -> Any:
            with mode():
                return model(x)

        return call

    def fetch(self, result: Any) -> list[np.ndarray]:
        out = _util.first_output(result)
        return [out.detach().float().cpu().numpy()]

    def sync(self) -> None:
        if self._cuda:
            self._torch.cuda.synchronize()

    def info(self) -> dict[str, Any]:
        torch = self._torch
        d: dict[str, Any] = {**self.settings, "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                             "io_in_timing": False, "torch": torch.__version__}
        if self._cuda:
            d["allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)
            d["gpu_peak_bytes"] = int(torch.cuda.max_memory_allocated())
            d["gpu"] = torch.cuda.get_device_name()
        return d

    def close(self) -> None:
        self.model = None
        if self._cuda:
            self._torch.cuda.empty_cache()


def prepare_model(artifact: Artifact, opts: LoadOptions, runtime: str) -> tuple[Any, int]:
    """Shared by torch and torch-compile: threads first, then rebuild the model in eval mode."""
    import torch

    _util.check_device(runtime, opts.device, ("cpu", "cuda"))
    threads = set_torch_threads(opts.threads)
    torch.set_grad_enabled(False)
    if opts.device == "cuda":
        # TF32 off unless asked for: torch's fp32 default, and parity's fp32 profile depends on it.
        tf32 = bool(opts.settings.get("allow_tf32", False))
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.cuda.reset_peak_memory_stats()
    model = _util.load_native("torch", artifact, opts.run_dir)
    model = model.to(opts.device).eval()
    return model, threads


@register_runtime("torch", accepts={"torch"}, available=available, devices=devices, settings=Tf32Settings,
                  doc="PyTorch eager (inference_mode), the native torch model")
def load(artifact: Artifact, opts: LoadOptions) -> TorchSession:
    _util.settings("torch", opts.settings, Tf32Settings)
    model, threads = prepare_model(artifact, opts, "torch")
    return TorchSession(model, opts.device, threads, opts.settings)

