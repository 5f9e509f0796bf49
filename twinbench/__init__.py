"""twinbench: equivalent PyTorch/Keras NLP models, exported to ONNX, benchmarked and verified everywhere.

Heavy frameworks (torch, tensorflow, onnxruntime, openvino) are imported lazily inside the adapters
that need them, so importing this package and running `twinbench --help` stays fast.
"""

from twinbench.core import __version__  # noqa: F401  (one owner: core)
