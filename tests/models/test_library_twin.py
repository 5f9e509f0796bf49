"""The library twin `bert`: transformers' BertForSequenceClassification and KerasHub's BertBackbone
with a classifier head. Exact transfer both ways, the same function in eval mode once the libraries'
differences are aligned (and not without), padding masked alike, synced training in step; without
the `hf` extra it is listed as unavailable with the reason, and the model tests here skip with it."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from twinbench.core.errors import ConfigError
from twinbench.models.registry import get_twin, unavailable_twins

NAME = "bert"
REASON = unavailable_twins().get(NAME)
needs_extra = pytest.mark.skipif(REASON is not None, reason=f"twin {NAME!r} unavailable: {REASON}")
TOL = 1e-5  # outputs of O(1) after the weights are scaled up; float32 sums in other orders


def build_pair(seed: int = 0, scale: float | None = 0.5, **overrides):
    """Both models of a small twin; with `scale`, torch weights redrawn N(0, scale) (the libraries'
    N(0, 0.02) init gives logits of ~0.03, where every difference hides), then moved into Keras."""
    import keras
    import torch

    twin = get_twin(NAME, **{"vocab_size": 50, "max_len": 12, **overrides})
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    tm, km = twin.build_torch(twin.config).eval(), twin.build_keras(twin.config)
    if scale is not None:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in tm.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
        twin.torch_to_keras(tm, km)
    return twin, tm, km


def padded_batch(seed: int = 0, vocab: int = 50, seq: int = 12) -> np.ndarray:
    """Rows: full, right-padded, left-padded, all padding, one token, a gap of padding inside."""
    x = np.random.default_rng(seed).integers(2, vocab, size=(6, seq), dtype=np.int64)
    x[1, 5:] = 0
    x[2, :3] = 0
    x[3] = 0
    x[4, 1:] = 0
    x[5, 4:8] = 0
    return x


def torch_out(tm, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return tm(torch.from_numpy(x)).numpy()


def keras_out(km, x: np.ndarray) -> np.ndarray:
    return np.asarray(km(x, training=False))


# -- transfer ---------------------------------------------------------------------------------------


@needs_extra
def test_weight_table_covers_every_weight_of_both_libraries() -> None:
    from twinbench.models.twins.bert import weight_table

    twin, tm, km = build_pair(scale=None, num_layers=3)
    table = weight_table(3)
    assert {t for t, _, _ in table} == {n for n, _ in tm.named_parameters()}
    assert {k for _, k, _ in table} == {v.path for v in km.weights}
    assert sum(p.numel() for p in tm.parameters()) == km.count_params()


@needs_extra
def test_torch_to_keras_is_exact() -> None:
    """Every Keras variable is its torch parameter in Keras' layout, bit for bit."""
    from twinbench.models.twins.bert import _to_keras, weight_table

    twin, tm, km = build_pair(seed=1)
    params, variables = dict(tm.named_parameters()), {v.path: v for v in km.weights}
    for t, k, layout in weight_table(twin.config.num_layers):
        want = _to_keras(params[t].detach().numpy(), layout, twin.config.num_heads)
        np.testing.assert_array_equal(variables[k].numpy(), want, err_msg=f"{t} -> {k}")


@needs_extra
def test_keras_to_torch_is_exact_and_round_trips() -> None:
    """Keras' own initialisation into a fresh torch model and back: every weight comes back exactly."""
    import keras

    twin, tm, km = build_pair(seed=2, scale=None)
    tm2 = twin.build_torch(twin.config).eval()
    twin.keras_to_torch(km, tm2)
    keras.utils.set_random_seed(3)
    km2 = twin.build_keras(twin.config)
    twin.torch_to_keras(tm2, km2)
    for a, b in zip(km.weights, km2.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    x = padded_batch()
    np.testing.assert_allclose(torch_out(tm2, x), keras_out(km, x), atol=1e-6, rtol=0)


@needs_extra
def test_transfer_refuses_models_of_another_size() -> None:
    twin, tm, _ = build_pair(scale=None)
    other = get_twin(NAME, vocab_size=50, max_len=12, num_layers=1)
    with pytest.raises(ValueError, match="weight table"):
        twin.torch_to_keras(tm, other.build_keras(other.config))


# -- the same function ------------------------------------------------------------------------------


@needs_extra
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # Keras, at seq 1: true and harmless
@pytest.mark.parametrize("overrides", [{}, {"num_layers": 1, "num_heads": 4, "hidden": 16, "num_classes": 3}])
def test_same_function_in_eval_mode(overrides: dict) -> None:
    """O(1) logits on every padding pattern, at several lengths; dropout set but inactive."""
    twin, tm, km = build_pair(seed=4, dropout=0.1, **overrides)
    for seq in (1, 5, 12):
        x = padded_batch(seed=seq)[:, :seq]
        want, got = torch_out(tm, x), keras_out(km, x)
        assert want.shape == got.shape == (6, twin.num_outputs)
        assert np.abs(want).max() > 0.3, "weights too small to show a difference"
        np.testing.assert_allclose(got, want, atol=TOL, rtol=TOL, err_msg=f"seq {seq}")


@needs_extra
def test_padding_is_masked_on_both_sides() -> None:
    """Unlike the hand-written `transformer` twin, trailing padding does not change the logits, and a
    row of nothing but padding gives finite logits (it attends to position 0), equal on both sides."""
    _, tm, km = build_pair(seed=5)
    short, padded = np.array([[5, 6, 7]]), np.array([[5, 6, 7, 0, 0, 0]])
    for run in (lambda x: torch_out(tm, x), lambda x: keras_out(km, x)):
        np.testing.assert_allclose(run(padded), run(short), atol=1e-6, rtol=0)
    empty = np.zeros((2, 6), dtype=np.int64)
    assert np.isfinite(torch_out(tm, empty)).all()
    np.testing.assert_allclose(keras_out(km, empty), torch_out(tm, empty), atol=TOL, rtol=TOL)


@needs_extra
def test_erf_gelu_would_be_another_function() -> None:
    """Why the torch side uses "gelu_new": with transformers' BERT default (exact erf GELU) the same
    weights differ from KerasHub's tanh-GELU BERT far beyond the float32 tolerance."""
    from twinbench.models.twins.bert import build_torch

    twin, tm, km = build_pair(seed=6)
    erf = build_torch(twin.config, hidden_act="gelu").eval()
    erf.load_state_dict(tm.state_dict())
    x = padded_batch()
    assert np.abs(torch_out(erf, x) - keras_out(km, x)).max() > 20 * TOL
    np.testing.assert_allclose(torch_out(tm, x), keras_out(km, x), atol=TOL, rtol=TOL)


@needs_extra
def test_the_libraries_settings_are_the_ones_aligned() -> None:
    """Read from the libraries' own objects, so a new library version that changes a default shows."""
    import keras

    twin, tm, km = build_pair(scale=None)
    hf = tm.model.config
    layers = km.get_layer("backbone").layers  # the embedding LayerNormalization and the encoder blocks
    eps = [layer.epsilon for layer in layers if isinstance(layer, keras.layers.LayerNormalization)]
    eps += [layer.get_config()["layer_norm_epsilon"] for layer in layers if "transformer_layer" in layer.name]
    assert len(eps) == 1 + twin.config.num_layers and set(eps) == {hf.layer_norm_eps} == {1e-12}
    assert (hf.hidden_act, hf._attn_implementation, hf.pad_token_id) == ("gelu_new", "eager", None)
    assert tm.model.bert.embeddings.word_embeddings.padding_idx is None
    assert hf.max_position_embeddings == km.get_layer("backbone").max_sequence_length == twin.max_seq_len


@needs_extra
def test_longer_than_the_position_table_is_refused() -> None:
    twin, tm, km = build_pair(scale=None)
    assert twin.seq_len_problem(13) == "twin 'bert' accepts sequence lengths 1..12, got 13"
    with pytest.raises(RuntimeError):
        torch_out(tm, np.full((1, 13), 3, dtype=np.int64))


@needs_extra
@pytest.mark.parametrize(("overrides", "field"), [
    ({"hidden": 30, "num_heads": 4}, "num_heads"),
    ({"hidden": 3, "num_heads": 3}, "num_heads"),  # one dimension per head: Keras' EinsumDense bias bug
    ({"dropout": 1.0}, "dropout"),
    ({"intermediate": 0}, "intermediate"),
])
def test_bad_configs_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"twin 'bert': {field}:"):
        get_twin(NAME, **overrides)


# -- training ---------------------------------------------------------------------------------------


@needs_extra
@pytest.mark.slow
def test_synced_training_keeps_both_libraries_in_step() -> None:
    from twinbench.models.data import DataConfig, load_data
    from twinbench.models.train import TrainRecipe, train_twins

    splits = load_data(DataConfig(source="synthetic-sentiment", size=96, max_len=8))
    twin = get_twin(NAME, vocab_size=len(splits.vocab), num_classes=splits.num_classes, max_len=8)
    result = train_twins(twin, splits, TrainRecipe(epochs=2))
    s = result.summary
    assert s["init_output_max_abs_diff"] < 1e-6
    assert max(s["train_loss_rel_diff"]) < 1e-5 and max(s["val_loss_rel_diff"]) < 1e-5
    assert s["prediction_agreement"] == 1.0 and s["output_max_abs_diff"] < 1e-5


# -- without the extra ------------------------------------------------------------------------------

#: Run code where the named libraries cannot be imported (a None entry in sys.modules makes
#: `importlib.util.find_spec` answer "not found" and `import` fail), as on a machine without the extra.
HIDE = "import sys\nfor m in {mods!r}: sys.modules[m] = None\n"


def _without(mods: list[str], code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", HIDE.format(mods=mods) + code], capture_output=True, text=True,
                          timeout=300, env=env)


def _cli(*args: str) -> str:
    return f"sys.argv = ['twinbench', {', '.join(map(repr, args))}]\nimport runpy\nrunpy.run_module('twinbench', run_name='__main__')\n"


def test_without_the_extra_it_is_listed_as_unavailable_with_the_reason() -> None:
    proc = _without(["keras_hub"], _cli("list"))
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "│ bert " in line]
    assert rows and "unavailable: needs keras-hub" in " ".join(rows), proc.stdout
    assert "lstm" in proc.stdout  # the other twins are listed as usual


def test_without_the_extra_the_registry_names_what_is_missing() -> None:
    code = ("from twinbench.models.registry import get_twin, list_twins, unavailable_twins\n"
            "from twinbench.core.errors import ConfigError\n"
            "assert 'bert' not in list_twins() and 'lstm' in list_twins()\n"
            "print(unavailable_twins()['bert'])\n"
            "try:\n    get_twin('bert')\nexcept ConfigError as exc:\n    print(exc)\n")
    proc = _without(["transformers", "keras_hub"], code)
    assert proc.returncode == 0, proc.stderr
    reason, error = proc.stdout.strip().splitlines()
    assert reason.startswith("needs transformers and keras-hub, not installed: pip install 'twinbench[hf]'")
    assert error == f"twin 'bert' is unavailable here: {reason}"


def test_without_the_extra_a_run_of_it_is_bad_input(tmp_path) -> None:
    proc = _without(["transformers"], _cli("run", "-t", "bert", "--out", str(tmp_path)))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "twin 'bert' is unavailable here: needs transformers" in proc.stderr
    assert not list(tmp_path.iterdir()), "bad input must not leave a run directory behind"
