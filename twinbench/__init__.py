"""twinbench: equivalent PyTorch/Keras NLP models, exported to ONNX, benchmarked and verified everywhere.

Heavy frameworks (torch, tensorflow, onnxruntime, openvino) are imported lazily inside the adapters
that need them, so importing this package and running `twinbench --help` stays fast.
"""

__version__ = "0.1.0"
