"""`localize` is generic over twins: on every registered twin's TorchScript export it finds no
divergence in the unmodified graph, and names the owning module of any named weight it edits."""

from __future__ import annotations

import numpy as np
import pytest

from twinbench.bench.parity import sensitivity as sens
from twinbench.bench.parity.localize import localize, match_layers, onnx_intermediates, torch_layer_outputs, view_error
from twinbench.bench.parity.compare import compare_batches, worst_batch
from twinbench.bench.parity.inputs import golden_outputs, parity_inputs
from twinbench.bench.parity.profiles import get_profile
from twinbench.models.registry import get_twin, list_twins

VOCAB = 40
MAX_EDIT = 1.0          # the largest change made to one weight (a unit move)
FP32 = get_profile("fp32")


def _case(name: str, tmp_path):
    import onnx
    import torch

    twin = get_twin(name, vocab_size=VOCAB)
    torch.manual_seed(0)
    model = twin.build_torch(twin.config).eval()
    with torch.no_grad():  # a trained model has no all-zero tensor; a zero bias would make a module's
        for p in model.parameters():  # output equal to its MatMul's, so no edit of it could be told apart
            if not bool(p.abs().sum()):
                p.normal_(0.0, 0.02)
    length = twin.fixed_length or 6
    x = np.random.default_rng(3).integers(2, VOCAB, size=(12, length))
    x[::3, length // 2:] = 0
    batches = parity_inputs(x, VOCAB, twin)
    path = str(tmp_path / f"{name}.onnx")
    sens.export_torchscript(model, path, seq=length)
    return model, onnx.load(path), batches, golden_outputs(twin, model, batches)


def test_view_error_handles_lstm_layouts():
    rng = np.random.default_rng(0)
    s, b, h = 5, 3, 4
    y = rng.normal(size=(s, 2, b, h))                       # ONNX bidirectional LSTM Y
    torch_like = np.transpose(y, (2, 0, 1, 3)).reshape(b, s, 2 * h)
    assert view_error(torch_like, y) == 0.0
    assert view_error(torch_like[..., :h], y[:, :1]) == 0.0  # one direction [S, 1, B, H] vs [B, S, H]
    assert view_error(torch_like, y + 1e-3) == pytest.approx(1e-3 / max(1.0, np.abs(torch_like).max()))
    assert view_error(torch_like, rng.normal(size=(7,))) is None


@pytest.mark.slow
@pytest.mark.parametrize("name", list_twins())
def test_unmodified_export_has_no_divergent_layer(name, tmp_path):
    model, onnx_model, batches, golden = _case(name, tmp_path)
    assert worst_batch(compare_batches(golden, sens.ort_outputs(onnx_model, batches), "fp32")) is None
    matches = match_layers(torch_layer_outputs(model, batches["val"]), onnx_intermediates(onnx_model, batches["val"]))
    assert all(m.ok for m in matches), [m for m in matches if not m.ok]
    assert sum(m.onnx_tensor is not None for m in matches) >= 2   # really observed, not skipped


@pytest.mark.slow
@pytest.mark.parametrize("name", list_twins())
def test_edited_named_weight_is_localized_to_its_module(name, tmp_path):
    """Every initializer that keeps its torch parameter name: move its most influential element so
    the output moves by ~1e-3, expect FAIL and the owning module named (or, for a weight read
    outside its module's forward, the first module that consumes it)."""
    model, onnx_model, batches, golden = _case(name, tmp_path)
    params = dict(model.named_parameters())
    named = [i.name for i in onnx_model.graph.initializer if i.name in params]
    assert named, f"{name}: no initializer keeps a torch parameter name"
    probe = np.concatenate([batches["val"][:3], batches["full_length"][:3]])
    called = {layer.split("#")[0] for layer, _ in torch_layer_outputs(model, probe)}
    misses = []
    for pname in named:
        inf = sens.influence(model, pname, probe)
        if inf.max() * MAX_EDIT < 10 * FP32.atol:
            # even the largest edit moves the output less than the fp32 bound: an attention key
            # bias (softmax-invariant), or an untrained query bias (keys barely differ per token)
            continue
        index = tuple(int(i) for i in np.unravel_index(int(inf.argmax()), inf.shape))
        delta = float(np.clip(1e-3 / inf.max(), 1e-3, MAX_EDIT))
        edited = sens.perturb(onnx_model, pname, index, delta)
        results = compare_batches(golden, sens.ort_outputs(edited, batches), "fp32")
        worst = worst_batch(results)
        expected = pname.rsplit(".", 1)[0]
        if worst is None:
            misses.append(f"{pname}: not detected")
            continue
        layer, _ = localize(model, edited, batches[worst], "fp32")
        if expected not in called:
            # the weight is read outside its module's forward (transformer positions.weight[:S]):
            # the first module consuming it is the first observable divergence
            if not layer:
                misses.append(f"{pname}: nothing named")
        elif layer.split("#")[0] != expected:
            misses.append(f"{pname}: named {layer!r}, expected {expected!r}")
    assert not misses, misses
