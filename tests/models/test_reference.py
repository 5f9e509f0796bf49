"""The NumPy reference: every registered twin's torch float64 output equals its float64 NumPy
reference within 1e-10 (random, trained and saturating weights), the check catches a torch side
whose gate order is wrong in a way Keras parity cannot see, and divergence is traced to a step."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from twinbench.core.errors import ConfigError, DataError
from twinbench.models import reference as ref
from twinbench.models.data import DataConfig, load_data
from twinbench.models.reference import registry as ref_registry
from twinbench.models.registry import get_twin, list_twins
from twinbench.models.vocab import PAD, UNK

TOL = 1e-10
BUILTIN = ("bilstm", "cnn", "gru", "lstm", "mlp", "tagger", "transformer")
#: Small configs per twin: the defaults and the structural variants each reference must follow.
VARIANTS: dict[str, list[dict]] = {
    "lstm": [{}, {"num_layers": 2, "hidden": 12}],
    "bilstm": [{}, {"num_layers": 2, "hidden": 12, "head": "sigmoid", "num_classes": 1}],
    "gru": [{}, {"bidirectional": True, "num_layers": 2, "hidden": 12}],
    "tagger": [{}, {"num_layers": 2, "hidden": 12}, {"bidirectional": False}],
    "mlp": [{}, {"head": "sigmoid", "num_classes": 1, "num_hidden_layers": 1}],
    "cnn": [{}, {"kernel_sizes": (2, 5), "filters": 6}],
    "transformer": [{}, {"num_layers": 2, "num_heads": 2, "pool": "first", "layer_norm_eps": 1e-3}],
}
CASES = [pytest.param(name, overrides, id=f"{name}-{i}")
         for name in list_twins() for i, overrides in enumerate(VARIANTS.get(name, [{}]))]
WEIGHTS = ("random", "trained", "large")


# -- helpers ----------------------------------------------------------------------------------------


def make_twin(name: str, overrides: dict, **extra):
    twin = get_twin(name, **{**overrides, **extra})
    if ref.get_reference(name) is None:
        pytest.skip(f"twin {name!r} registers no reference: not checked this way")
    return twin


def lengths(twin) -> list[int]:
    """Several sequence lengths the twin accepts: its fixed one, else from its shortest up to 16."""
    if twin.fixed_length:
        return [twin.fixed_length]
    longest = min(16, twin.max_seq_len or 16)
    return sorted({max(twin.min_seq_len, 3), 9, longest})


def inputs(twin, seed: int = 0) -> list[np.ndarray]:
    """Per length: right-padded rows of several lengths, all PAD, all UNK, UNK among words, full rows."""
    rng = np.random.default_rng(seed)
    vocab = twin.config.vocab_size
    batches = []
    for s in lengths(twin):
        words = rng.integers(2, vocab, size=(8, s), dtype=np.int64)
        for row, keep in enumerate((1, 2, s // 2, s - 1)):
            words[row, keep:] = PAD
        words[4] = PAD
        words[5] = UNK
        words[6, ::3] = UNK  # row 7 stays full length
        batches.append(words)
    return batches


def torch64(model):
    return copy.deepcopy(model).double().eval()


def torch_run(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).double().numpy()


def build(twin, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return twin.build_torch(twin.config)


def enlarge(model, seed: int = 0) -> None:
    """Every parameter p -> 3p + N(0, 0.3): far from init, gates saturate, softmax peaks."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0).add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def trained_twin(name: str, overrides: dict):
    """One quick epoch of torch training (the project's trainer) on small synthetic data."""
    from twinbench.models.train import TrainRecipe, loss_kind
    from twinbench.models.train.torch_trainer import train_torch

    probe = get_twin(name, **overrides)
    splits = load_data(DataConfig(source="synthetic-pos" if probe.task == "tag" else "synthetic-sentiment",
                                  size=240, max_len=probe.fixed_length or 16))
    extra = {"vocab_size": len(splits.vocab)}
    if probe.task == "tag":
        extra["num_tags"] = splits.num_classes
    twin = make_twin(name, overrides, **extra)
    model = build(twin)
    before = copy.deepcopy(model.state_dict())
    train_torch(model, loss_kind(twin), splits, TrainRecipe(epochs=1, batch_size=16, lr=3e-2), lambda _: None)
    moved = max(float((model.state_dict()[k] - v).abs().max()) for k, v in before.items())
    assert moved > 0.1, f"one epoch moved no weight by more than {moved:.3g}: not a trained case"
    return twin, model


def weights_case(name: str, overrides: dict, case: str):
    if case == "trained":
        return trained_twin(name, overrides)
    twin = make_twin(name, overrides, vocab_size=40)
    model = build(twin)
    if case == "large":
        enlarge(model)
    return twin, model


def rnn_module(model):
    import torch

    found = [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.LSTM, torch.nn.GRU))]
    return found[0] if len(found) == 1 else (None, None)


def torch_rnn_io(model, x: np.ndarray):
    """(output, h_n) of the twin's one recurrent module, captured by a forward hook."""
    _, rnn = rnn_module(model)
    seen = {}
    handle = rnn.register_forward_hook(lambda _m, _i, out: seen.update(out=out))
    try:
        torch_run(model, x)
    finally:
        handle.remove()
    output, state = seen["out"]
    h_n = state[0] if isinstance(state, tuple) else state
    return output.numpy(), h_n.numpy()


# -- the reference equals torch float64 -------------------------------------------------------------


def test_every_builtin_twin_has_a_reference() -> None:
    assert set(BUILTIN) <= set(ref.list_references())
    assert set(BUILTIN) <= set(list_twins())


@pytest.mark.parametrize("case", WEIGHTS)
@pytest.mark.parametrize("name, overrides", CASES)
def test_reference_equals_torch_float64(name: str, overrides: dict, case: str) -> None:
    twin, model = weights_case(name, overrides, case)
    golden = torch64(model)
    for x in inputs(twin):
        want = torch_run(golden, x)
        got = ref.reference_outputs(twin, model.state_dict(), x)
        assert got is not None and got.outputs.dtype == np.float64 and got.outputs.shape == want.shape
        err = np.abs(got.outputs - want).max()
        assert err <= TOL, f"{name} {case} {x.shape}: max abs {err:.3e}"


@pytest.mark.parametrize("name, overrides", CASES)
def test_traced_steps_are_torch_states(name: str, overrides: dict) -> None:
    """Each layer's per-step states: the last layer is torch's `output`, every final state is
    torch's h_n (forward at the last position, reverse at the first); names follow the module."""
    twin, model = weights_case(name, overrides, "large")
    attr, rnn = rnn_module(model)
    x = inputs(twin)[-1]
    got = ref.reference_outputs(twin, model.state_dict(), x, trace=True)
    if rnn is None:
        assert got.steps == {}
        return
    output, h_n = torch_rnn_io(torch64(model), x)
    dirs = 2 if rnn.bidirectional else 1
    names = [f"{attr}_{layer}{sfx}" for layer in range(rnn.num_layers) for sfx in ("", "_reverse")[:dirs]]
    assert list(got.steps) == names
    for k, layer_name in enumerate(names):
        steps = got.steps[layer_name]
        assert steps.shape == (*x.shape, rnn.hidden_size)
        final = steps[:, 0] if layer_name.endswith("_reverse") else steps[:, -1]
        assert np.abs(final - h_n[k]).max() <= TOL, layer_name
    last = np.concatenate([got.steps[n] for n in names[-dirs:]], axis=2)
    assert np.abs(last - output).max() <= TOL


# -- what the check catches that torch-vs-Keras parity cannot ---------------------------------------


def _swap_forget_and_cell(lstm) -> None:
    """Exchange gate blocks f and g (i, f, g, o -> i, g, f, o) of every LSTM parameter, in place;
    its own inverse."""
    import torch

    with torch.no_grad():
        for p in lstm.parameters():
            i, f, g, o = p.split(lstm.hidden_size, dim=0)
            p.copy_(torch.cat([i, g, f, o]))


@pytest.mark.slow
def test_gate_order_bug_shared_by_torch_and_transfer_is_caught() -> None:
    """A torch LSTM whose kernel reads its stored weights as (i, g, f, o), and a transfer with the
    same mistake: torch and Keras agree (fp32 parity PASS), the reference does not (golden FAIL)."""
    import keras

    twin = get_twin("lstm", vocab_size=40)
    model = build(twin)
    enlarge(model)
    # the bug in torch: forward runs on swapped blocks, the state dict shows the stored ones
    model.lstm.register_forward_pre_hook(lambda m, _i: _swap_forget_and_cell(m))
    model.lstm.register_forward_hook(lambda m, _i, _o: _swap_forget_and_cell(m))
    keras.utils.set_random_seed(0)
    km = twin.build_keras(twin.config)
    _swap_forget_and_cell(model.lstm)  # the same bug in the transfer
    twin.torch_to_keras(model, km)
    _swap_forget_and_cell(model.lstm)

    x = inputs(twin)[-1]
    golden = torch_run(torch64(model), x)
    keras_out = np.asarray(km(x, training=False), dtype=np.float64)
    assert np.abs(keras_out - golden).max() <= 1e-5  # torch vs Keras: PASS at fp32
    got = ref.reference_outputs(twin, model.state_dict(), x).outputs
    assert np.abs(got - golden).max() > 1e-3  # the reference check: FAIL

    clean = build(twin)  # control: without the hooks the same weights agree with the reference
    clean.load_state_dict(model.state_dict())
    assert np.abs(ref.reference_outputs(twin, clean.state_dict(), x).outputs - torch_run(torch64(clean), x)).max() <= TOL


# -- divergence located to a time step --------------------------------------------------------------


def _nudged(model, key: str, index: tuple[int, ...], delta: float = 0.05):
    import torch

    other = copy.deepcopy(model)
    with torch.no_grad():
        other.state_dict()[key][index] += delta
    return other


def test_recurrent_weight_nudge_diverges_at_step_one() -> None:
    """weight_hh multiplies h_{t-1}, which is zero at step 0: the first divergent step is 1."""
    twin = get_twin("lstm", vocab_size=40)
    model = build(twin)
    x = inputs(twin)[-1]
    broken = torch64(_nudged(model, "lstm.weight_hh_l0", (5, 3)))
    output, _ = torch_rnn_io(broken, x)
    expected = ref.reference_outputs(twin, model.state_dict(), x, trace=True).steps
    div = ref.first_divergent_step(expected, {"lstm_0": output}, TOL)
    assert div == ("lstm_0", 1)
    assert ref.describe(div, x.shape[1]) == f"diverges at layer lstm_0, step 2 of {x.shape[1]}"
    assert ref.first_divergent_step(expected, {"lstm_0": torch_rnn_io(torch64(model), x)[0]}, TOL) is None


def test_reverse_weight_nudge_diverges_where_the_reverse_pass_starts_to_differ() -> None:
    twin = get_twin("bilstm", vocab_size=40)
    model = build(twin)
    x = inputs(twin)[-1]
    output, _ = torch_rnn_io(torch64(_nudged(model, "rnn.weight_hh_l0_reverse", (2, 7))), x)
    h = model.rnn.hidden_size
    observed = {"rnn_0": output[..., :h], "rnn_0_reverse": output[..., h:]}
    expected = ref.reference_outputs(twin, model.state_dict(), x, trace=True).steps
    seq = x.shape[1]
    assert ref.step_errors(expected, observed)["rnn_0"].max() <= TOL  # the forward pass is intact
    assert ref.first_divergent_step(expected, observed, TOL) == ("rnn_0_reverse", seq - 2)
    assert ref.describe(ref.Divergence("rnn_0_reverse", seq - 2), seq).endswith("(read backwards)")


def test_outputs_only_divergence_through_prefixes() -> None:
    """An embedding row nudged for a word that first appears at position 7: the states diverge
    at step 7, and so do the per-prefix outputs, which is all a runtime without intermediates shows."""
    twin = get_twin("lstm", vocab_size=40)
    model = build(twin)
    word = 9
    x = np.random.default_rng(3).integers(10, 40, size=(4, 12), dtype=np.int64)
    x[0, 7], x[2, 10] = word, word
    broken = torch64(_nudged(model, "embedding.weight", (word, 0), 0.1))

    steps = ref.reference_outputs(twin, model.state_dict(), x, trace=True).steps
    assert ref.first_divergent_step(steps, {"lstm_0": torch_rnn_io(broken, x)[0]}, TOL) == ("lstm_0", 7)

    expected = ref.reference_prefix_outputs(twin, model.state_dict(), x)
    observed = ref.prefix_outputs(lambda t: torch_run(broken, t), x)
    assert expected.shape == observed.shape == (4, 12, 2)
    assert ref.first_divergent_step({"logits": expected}, {"logits": observed}, TOL) == ("logits", 7)
    assert np.abs(expected[:, -1] - torch_run(torch64(model), x)).max() <= TOL  # full prefix = full run


def test_prefix_outputs_respect_what_the_twin_can_read() -> None:
    cnn = get_twin("cnn", vocab_size=40)
    x = inputs(cnn)[-1]
    series = ref.reference_prefix_outputs(cnn, build(cnn).state_dict(), x)
    assert np.isnan(series[:, :4]).all() and np.isfinite(series[:, 4:]).all()  # widest kernel: 5
    mlp = get_twin("mlp", vocab_size=40)
    assert ref.reference_prefix_outputs(mlp, build(mlp).state_dict(), inputs(mlp)[0]) is None
    tagger = get_twin("tagger", vocab_size=40)
    x = inputs(tagger)[0]
    series = ref.reference_prefix_outputs(tagger, build(tagger).state_dict(), x)
    assert series.shape == (*x.shape, tagger.num_outputs)
    with pytest.raises(ValueError, match="start"):
        ref.prefix_outputs(lambda t: t, x, start=x.shape[1] + 1)


def test_step_errors_treat_nan_and_missing_layers() -> None:
    a = np.zeros((2, 5, 3))
    obs = a.copy()
    obs[1, 3, 0] = np.nan
    assert ref.first_divergent_step({"x": a}, {"x": obs}, 1.0) == ("x", 3)  # NaN is a divergence
    unobserved = a.copy()
    unobserved[:, :2] = np.nan
    obs = np.ones_like(a)
    errors = ref.step_errors({"x": unobserved}, {"x": obs})["x"]
    assert np.isnan(errors[:2]).all() and (errors[2:] == 1.0).all()
    assert ref.first_divergent_step({"x": unobserved}, {"x": obs}, 0.5) == ("x", 2)
    assert ref.first_divergent_step({"x": a, "y": a}, {"y": a + 1}, 0.5) == ("y", 0)
    assert ref.observed_layers({"x": a, "y": a}, {"y": a}) == ["y"]
    assert ref.describe(None, 5) == "no step leaves tolerance"
    with pytest.raises(ValueError, match="shape"):
        ref.step_errors({"x": a}, {"x": a[:, :4]})


# -- registry, inputs, isolation --------------------------------------------------------------------


def test_user_twins_register_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ref_registry.REFERENCES, "_entries", dict(ref_registry.REFERENCES._entries))
    monkeypatch.setattr(ref_registry.REFERENCES, "_origin", dict(ref_registry.REFERENCES._origin))
    user = dataclasses.replace(get_twin("lstm", vocab_size=40), name="user_lstm")
    model = build(user)
    x = inputs(user)[0]
    assert ref.get_reference("user_lstm") is None
    assert ref.reference_outputs(user, model.state_dict(), x) is None  # not checked this way

    @ref.register_reference("user_lstm")
    def user_lstm(cfg, weights, tokens, *, trace=False):
        return ref.get_reference("lstm")(cfg, weights, tokens, trace=trace)

    got = ref.reference_outputs(user, model.state_dict(), x)
    assert np.abs(got.outputs - torch_run(torch64(model), x)).max() <= TOL
    with pytest.raises(ConfigError, match="already registered"):
        ref.register_reference("user_lstm")(lambda cfg, weights, tokens, *, trace=False: None)


def test_bad_inputs_and_foreign_weights_are_refused() -> None:
    lstm = get_twin("lstm", vocab_size=40)
    weights = ref.as_numpy_weights(build(lstm).state_dict())
    fn = ref.get_reference("lstm")
    with pytest.raises(DataError, match=r"\[0, 40\)"):
        fn(lstm.config, weights, np.array([[1, 40]]))
    with pytest.raises(DataError, match="integer"):
        fn(lstm.config, weights, np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="embedding.weight"):
        fn(lstm.config, {k: v for k, v in weights.items() if k != "embedding.weight"}, np.ones((1, 3), np.int64))
    for name, seq, why in (("mlp", 15, "exactly 16"), ("cnn", 4, "at least 5"), ("transformer", 9, "at most 8")):
        twin = get_twin(name, vocab_size=40, **({"max_len": 8} if name == "transformer" else {}))
        with pytest.raises(DataError, match=why):
            ref.reference_outputs(twin, build(twin).state_dict(), np.ones((2, seq), np.int64))


def test_reference_imports_no_framework(tmp_path) -> None:
    """Run every built-in reference in a fresh process that never imports torch, TF or ONNX; its
    outputs still equal the torch float64 outputs computed here."""
    cases = {}
    for name in BUILTIN:
        twin = get_twin(name, vocab_size=40)
        model = build(twin)
        x = inputs(twin)[0]
        np.savez(tmp_path / f"{name}.npz", tokens=x, golden=torch_run(torch64(model), x),
                 **{f"w:{k}": v.numpy() for k, v in model.state_dict().items()})
        cases[name] = str(tmp_path / f"{name}.npz")
    script = f"""
import json, sys
import numpy as np
from twinbench.models.reference import reference_outputs
from twinbench.models.registry import get_twin
errors = {{}}
for name, path in json.loads({json.dumps(json.dumps(cases))}).items():
    data = np.load(path)
    weights = {{k[2:]: data[k] for k in data.files if k.startswith("w:")}}
    got = reference_outputs(get_twin(name, vocab_size=40), weights, data["tokens"], trace=True)
    errors[name] = float(np.abs(got.outputs - data["golden"]).max())
heavy = [m for m in ("torch", "tensorflow", "keras", "onnx", "onnxruntime", "openvino") if m in sys.modules]
print(json.dumps({{"errors": errors, "heavy": heavy}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert set(result["errors"]) == set(BUILTIN) and max(result["errors"].values()) <= TOL, result["errors"]
