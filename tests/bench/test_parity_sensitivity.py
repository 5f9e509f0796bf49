"""The parity check must notice tiny, realistic breakages of an exported graph and name the layer.

The lstm twin (seeded, small) is exported with the project's TorchScript exporter; each test edits one
initializer of the ONNX file, runs it on ONNX Runtime CPU over every parity batch, and expects a
FAIL under the fp32 profile plus `localize` naming the torch module that owns the edited weight.
"""

from __future__ import annotations

import numpy as np
import pytest

from twinbench.bench.parity import sensitivity as sens
from twinbench.bench.parity.localize import localize
from twinbench.bench.parity.compare import compare_batches, worst_batch
from twinbench.bench.parity.inputs import golden_outputs, parity_inputs
from twinbench.exporters import EXPORTERS, ExportRequest
from twinbench.models.registry import get_twin

VOCAB, MAX_LEN = 40, 6
pytestmark = pytest.mark.slow  # the export + influence probes take ~10 s in all


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory):
    import onnx
    import torch

    twin = get_twin("lstm", vocab_size=VOCAB)
    torch.manual_seed(7)
    model = twin.build_torch(twin.config).eval()
    rng = np.random.default_rng(3)
    x_val = rng.integers(2, VOCAB, size=(24, MAX_LEN))
    x_val[::3, MAX_LEN // 2:] = 0                      # some right padding, like real data
    batches = parity_inputs(x_val, VOCAB, twin)
    golden = golden_outputs(twin, model, batches)
    run_dir = tmp_path_factory.mktemp("sens")
    req = ExportRequest(twin=twin, torch_model=model, keras_model=None, out_dir=run_dir / "artifacts" / "lstm",
                        run_dir=run_dir, opset=18, example_seq=MAX_LEN)
    art = EXPORTERS["torch-script"](req)
    return model, onnx.load(str(art.abspath(run_dir))), batches, golden


def _judge(case, onnx_model) -> tuple[str, str | None, str]:
    model, _, batches, golden = case
    results = compare_batches(golden, sens.ort_outputs(onnx_model, batches), "fp32")
    worst = worst_batch(results)
    if worst is None:
        return "PASS", None, ""
    layer, _err = localize(model, onnx_model, batches[worst], "fp32")
    return "FAIL", worst, layer


def test_unmodified_model_passes_every_batch(case):
    verdict, worst, _ = _judge(case, case[1])
    assert verdict == "PASS", f"unmodified export failed on batch {worst}"
    model, onnx_model, batches, _ = case
    layer, err = localize(model, onnx_model, batches["val"], "fp32")
    assert layer == "" and err <= 1e-5


def _lstm(case) -> dict[str, str]:
    return sens.lstm_weights(case[1])


def _gemm(case) -> list[str]:
    (names,) = sens.initializers_of(case[1], "Gemm")
    return names  # [weight, bias]


def _embedding(case) -> str:
    (names,) = sens.initializers_of(case[1], "Gather")[:1]
    return names[0]


def _most_influential(case, param: str) -> tuple[int, ...]:
    """The element of torch parameter `param` the logits depend on most (see sens.influence)."""
    model, _, batches, _ = case
    tokens = np.concatenate([batches["val"], batches["full_length"]])
    inf = sens.influence(model, param, tokens)
    return tuple(int(i) for i in np.unravel_index(int(inf.argmax()), inf.shape))


def _lstm_element(case, param: str) -> tuple[int, int, int]:
    return sens.onnx_lstm_index(_most_influential(case, param), case[0].lstm.hidden_size)


BREAKAGES = {
    # name: (edit, expected layer)
    # one weight +1e-3: the element the output depends on most (ONNX Gather/Gemm keep torch's layout)
    "embedding_weight+1e-3": (
        lambda c: sens.perturb(c[1], _embedding(c), _most_influential(c, "embedding.weight"), 1e-3), "embedding"),
    "lstm_W+1e-3": (
        lambda c: sens.perturb(c[1], _lstm(c)["W"], _lstm_element(c, "lstm.weight_ih_l0"), 1e-3), "lstm"),
    "lstm_R+1e-3": (
        lambda c: sens.perturb(c[1], _lstm(c)["R"], _lstm_element(c, "lstm.weight_hh_l0"), 1e-3), "lstm"),
    "linear_weight+1e-3": (
        lambda c: sens.perturb(c[1], _gemm(c)[0], _most_influential(c, "logits.weight"), 1e-3), "logits"),
    "lstm_swap_forget_cell": (lambda c: sens.swap_lstm_gates(c[1], "f", "c"), "lstm"),
    "lstm_bias_dropped": (lambda c: sens.zero(c[1], _lstm(c)["B"]), "lstm"),
    "linear_bias_dropped": (lambda c: sens.zero(c[1], _gemm(c)[1]), "logits"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_breakage_fails_and_names_the_layer(case, breakage):
    edit, expected = BREAKAGES[breakage]
    verdict, worst, layer = _judge(case, edit(case))
    assert verdict == "FAIL", f"{breakage}: parity did not notice"
    assert layer == expected, f"{breakage}: localize named {layer!r} (worst batch {worst})"
