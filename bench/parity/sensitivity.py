"""Deliberate, tiny breakages of an ONNX graph, to prove the parity check notices them.

A parity check that never fails proves nothing. These edits change one initializer the way real
exporter bugs do (a weight off by a little, LSTM gate blocks in the wrong order, a bias dropped);
tests assert each gives FAIL and that `localize` names the layer that owns the edited weight.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
from twinbench.models.registry import INPUT_NAME, OUTPUT_NAME

if TYPE_CHECKING:
    import onnx

#: ONNX LSTM packs gate blocks in the order input, output, forget, cell (torch: i, f, g, o).
ONNX_LSTM_GATES = "iofc"


def _initializer(model: "onnx.ModelProto", name: str) -> tuple[int, np.ndarray]:
    from onnx import numpy_helper

    for i, init in enumerate(model.graph.initializer):
        if init.name == name:
            return i, numpy_helper.to_array(init).copy()
    raise KeyError(f"initializer {name!r} not in graph")


def _replace(model: "onnx.ModelProto", index: int, name: str, value: np.ndarray) -> None:
    from onnx import numpy_helper

    model.graph.initializer[index].CopyFrom(numpy_helper.from_array(value, name))


def initializers_of(model: "onnx.ModelProto", op_type: str) -> list[list[str]]:
    """For each node of `op_type`, the names of its inputs that are initializers (in input order)."""
    names = {i.name for i in model.graph.initializer}
    return [[n for n in node.input if n in names] for node in model.graph.node if node.op_type == op_type]


def lstm_weights(model: "onnx.ModelProto", which: int = 0) -> dict[str, str]:
    """Names of W, R and B of the `which`-th ONNX LSTM node ("" where absent)."""
    nodes = [n for n in model.graph.node if n.op_type == "LSTM"]
    if len(nodes) <= which:
        raise KeyError(f"graph has {len(nodes)} LSTM nodes, asked for #{which}")
    inp = list(nodes[which].input) + [""] * 4
    return {"W": inp[1], "R": inp[2], "B": inp[3]}


def perturb(model: "onnx.ModelProto", name: str, index: tuple[int, ...], delta: float) -> "onnx.ModelProto":
    """A copy with one element of initializer `name` moved by `delta`."""
    out = copy.deepcopy(model)
    i, value = _initializer(out, name)
    value[index] = value[index] + np.asarray(delta, dtype=value.dtype)
    _replace(out, i, name, value)
    return out


def zero(model: "onnx.ModelProto", name: str) -> "onnx.ModelProto":
    """A copy with initializer `name` set to zeros (a dropped bias)."""
    out = copy.deepcopy(model)
    i, value = _initializer(out, name)
    _replace(out, i, name, np.zeros_like(value))
    return out


def swap_lstm_gates(model: "onnx.ModelProto", a: str = "f", b: str = "c", which: int = 0) -> "onnx.ModelProto":
    """A copy with gate blocks `a` and `b` exchanged in W, R (and both halves of B)."""
    out = copy.deepcopy(model)
    ga, gb = ONNX_LSTM_GATES.index(a), ONNX_LSTM_GATES.index(b)
    for key, name in lstm_weights(out, which).items():
        if not name:
            continue
        i, value = _initializer(out, name)
        hidden = value.shape[1] // (8 if key == "B" else 4)
        blocks = list(range(value.shape[1] // hidden))
        for half in range(len(blocks) // 4):
            x, y = half * 4 + ga, half * 4 + gb
            blocks[x], blocks[y] = blocks[y], blocks[x]
        value = np.concatenate([value[:, k * hidden:(k + 1) * hidden] for k in blocks], axis=1)
        _replace(out, i, name, value)
    return out


def export_torchscript(torch_model: "object", path: str, *, seq: int = 6, opset: int = 18) -> str:
    """Fast TorchScript export (dynamo=False) with dynamic batch and sequence axes, for self-checks.

    The pipeline's exporters live in twinbench.exporters; this one only has to be quick."""
    import warnings

    import torch

    example = torch.ones(2, seq, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch_model, (example,), path, dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset,
                          dynamic_axes={INPUT_NAME: {0: "batch", 1: "seq"}, OUTPUT_NAME: {0: "batch"}})
    return path


def ort_outputs(onnx_model: "onnx.ModelProto | str", batches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run every named batch through ONNX Runtime CPU (1 thread), first output as float64."""
    import onnxruntime as ort

    data = onnx_model if isinstance(onnx_model, str) else onnx_model.SerializeToString()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return {k: np.asarray(sess.run(None, {INPUT_NAME: v})[0], dtype=np.float64) for k, v in batches.items()}


#: torch LSTM/GRU gate block k -> ONNX block: torch LSTM packs (i, f, g, o), ONNX (i, o, f, c).
TORCH_TO_ONNX_LSTM_BLOCK = {0: 0, 1: 2, 2: 3, 3: 1}


def influence(torch_model: "object", param: str, tokens: np.ndarray) -> np.ndarray:
    """max over every output element of |d output / d param| (float64, on `tokens`).

    A one-weight perturbation only shows at the output in proportion to this; tests perturb the
    most influential element, so a miss is the check's fault and not a weight that barely matters."""
    import torch

    model = copy.deepcopy(torch_model).to("cpu").double().eval()
    p = dict(model.named_parameters())[param]
    y = model(torch.from_numpy(np.asarray(tokens, dtype=np.int64)))
    best = torch.zeros_like(p)
    for k in range(y.numel()):
        (g,) = torch.autograd.grad(y.reshape(-1)[k], p, retain_graph=True)
        best = torch.maximum(best, g.abs())
    return best.detach().numpy()


def onnx_lstm_index(torch_index: tuple[int, int], hidden: int) -> tuple[int, int, int]:
    """Where torch `weight_ih_l0/weight_hh_l0[row, col]` lives in ONNX LSTM W/R [1, 4H, in]."""
    row, col = torch_index
    block, offset = divmod(row, hidden)
    return 0, TORCH_TO_ONNX_LSTM_BLOCK[block] * hidden + offset, col
