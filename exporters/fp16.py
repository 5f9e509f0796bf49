"""float32 -> float16 through ONNX Runtime's own converter, int inputs and float32 outputs kept.

The converter is `onnxruntime.transformers.float16.convert_float_to_float16`, shipped inside the
onnxruntime wheel (a maintained descendant of onnxconverter-common's): it converts initializers,
intermediates and subgraph bodies, keeps the graph's inputs and outputs (`keep_io_types`) and leaves
the op types of a block list in fp32 between Casts. twinbench only adds the ops ONNX Runtime CPU has
no fp16 kernel for to that list (variants.py finds them by asking ORT) and puts the nodes back in
topological order (ORT's `OnnxModel.graph_topological_sort`), because the converter appends its
Casts at the end of the graph. (Importing `onnxruntime.transformers` appends its folder to sys.path,
as `onnxruntime.quantization`, used by the int8 variant, already does: ORT's modules import each
other by bare name.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import onnx


def convert_fp16(model: "onnx.ModelProto", *, keep_fp32: Iterable[str] = ()) -> "onnx.ModelProto":
    """A float16 copy of `model` (the argument is left unchanged): graph inputs and outputs keep
    their types, op types in `keep_fp32` (plus the converter's defaults) stay fp32 between Casts,
    and float32 weights beyond the float16 range are clamped to +-65504 rather than made inf."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    copy = onnx.ModelProto.FromString(model.SerializeToString())  # the converter edits in place
    block = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(keep_fp32))
    half = convert_float_to_float16(copy, keep_io_types=True, op_block_list=block)
    OnnxModel.graph_topological_sort(half.graph)
    return half
