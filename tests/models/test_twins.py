"""Every registered twin: exact weight transfer both ways, same function in torch and Keras."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from twinbench.core.errors import ConfigError
from twinbench.models.registry import INPUT_NAME, OUTPUT_NAME, get_twin, list_twins

TOL = 1e-6
TWINS = list_twins()


def seq_lens(twin) -> list[int]:
    """Two lengths the twin's contract accepts: its fixed length, or its shortest and a longer one."""
    if twin.fixed_length:
        return [twin.fixed_length]
    lens = [twin.min_seq_len, min(twin.min_seq_len + 4, twin.max_seq_len or 10**6)]
    assert all(twin.seq_len_problem(n) is None for n in lens)
    return lens


def batches(twin, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    vocab = twin.config.vocab_size
    out = [rng.integers(0, vocab, size=(b, s), dtype=np.int64) for b in (1, 3) for s in seq_lens(twin)]
    out.append(np.zeros((2, seq_lens(twin)[-1]), dtype=np.int64))  # all padding
    return out


def build_pair(twin, seed: int = 0):
    import keras
    import torch

    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    return twin.build_torch(twin.config).eval(), twin.build_keras(twin.config)


def torch_out(tm, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return tm(torch.from_numpy(x)).numpy()


def keras_out(km, x: np.ndarray) -> np.ndarray:
    return np.asarray(km(x, training=False))


def assert_same_function(twin, tm, km) -> None:
    for x in batches(twin):
        a, b = torch_out(tm, x), keras_out(km, x)
        assert a.dtype == np.float32 and b.dtype == np.float32
        expected = (x.shape[0], twin.num_outputs) if twin.task == "classify" else (*x.shape, twin.num_outputs)
        assert a.shape == b.shape == expected
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0, err_msg=f"{twin.name} {x.shape}")


def assert_torch_state_equal(tm_a, tm_b) -> None:
    """Exact equality, except LSTM biases where only bias_ih + bias_hh is defined by Keras."""
    import torch

    lstm_prefixes = [n + "." if n else "" for n, m in tm_a.named_modules() if isinstance(m, torch.nn.LSTM)]
    sa, sb = tm_a.state_dict(), tm_b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        in_lstm = any(key.startswith(p) and "bias_" in key[len(p):] for p in lstm_prefixes)
        if in_lstm and "bias_hh" in key:
            continue
        if in_lstm:
            other = key.replace("bias_ih", "bias_hh")
            got = (sb[key] + sb[other]).numpy()
            want = (sa[key].numpy().astype(np.float32) + sa[other].numpy().astype(np.float32))
            np.testing.assert_array_equal(got, want, err_msg=key)
            assert not sb[other].any(), f"{other} should be zero after keras -> torch"
        else:
            np.testing.assert_array_equal(sa[key].numpy(), sb[key].numpy(), err_msg=key)


@pytest.mark.parametrize("name", TWINS)
def test_contract(name):
    twin = get_twin(name)
    assert twin.name == name and twin.config.vocab_size == 1000
    tm, km = build_pair(twin)
    assert km.inputs[0].name == INPUT_NAME and "int64" in str(km.inputs[0].dtype)
    assert list(km.output_names) == [OUTPUT_NAME]
    assert km.inputs[0].shape[1] == twin.fixed_length


@pytest.mark.parametrize("to_keras", [True, False], ids=["torch_to_keras", "keras_to_torch"])
@pytest.mark.parametrize("name", TWINS)
def test_transfer_gives_the_same_function(name, to_keras):
    twin = get_twin(name)
    if to_keras:
        tm, km = build_pair(twin)
        twin.torch_to_keras(tm, km)
    else:
        tm, km = build_pair(twin, seed=1)
        twin.keras_to_torch(km, tm)
    assert_same_function(twin, tm, km)


@pytest.mark.parametrize("name", TWINS)
def test_round_trips_exact(name):
    twin = get_twin(name)
    tm, km = build_pair(twin, seed=2)
    tm2, km2 = build_pair(twin, seed=3)
    twin.torch_to_keras(tm, km)
    twin.keras_to_torch(km, tm2)  # torch -> keras -> torch
    assert_torch_state_equal(tm, tm2)
    twin.torch_to_keras(tm2, km2)  # keras -> torch -> keras: every Keras weight comes back exactly
    for w1, w2 in zip(km.get_weights(), km2.get_weights()):
        np.testing.assert_array_equal(w1, w2)


@pytest.mark.parametrize("name", TWINS)
def test_keras_rebuild_and_load_weights(name, tmp_path):
    """Workers rebuild the Keras model from the registry and load weights: no custom objects."""
    twin = get_twin(name)
    tm, km = build_pair(twin)
    twin.torch_to_keras(tm, km)
    path = tmp_path / "keras.weights.h5"
    km.save_weights(path)
    km2 = twin.build_keras(twin.config)
    km2.load_weights(path)
    x = batches(twin)[-2]
    np.testing.assert_array_equal(keras_out(km, x), keras_out(km2, x))


@pytest.mark.parametrize("name", TWINS)
@pytest.mark.parametrize("field", ["vocab_size", "embed_dim"])
def test_bad_sizes_name_the_field(name, field):
    if not hasattr(get_twin(name).config, field):
        pytest.skip(f"{name} has no {field}")
    with pytest.raises(ConfigError, match=field):
        get_twin(name, **{field: -1})


@pytest.mark.parametrize("name", TWINS)
def test_unknown_field_is_config_error(name):
    with pytest.raises(ConfigError, match="bad config override"):
        get_twin(name, no_such_field=1)


# -- lstm specifics -------------------------------------------------------------------------------


def test_lstm_reads_the_last_time_step_even_if_padding():
    twin = get_twin("lstm", vocab_size=30)
    tm, km = build_pair(twin)
    twin.torch_to_keras(tm, km)
    x = np.array([[5, 6, 7, 0, 0, 0]], dtype=np.int64)
    trimmed = x[:, :3]
    assert not np.allclose(torch_out(tm, x), torch_out(tm, trimmed))
    np.testing.assert_allclose(keras_out(km, x), torch_out(tm, x), atol=TOL)


def test_lstm_seed_notebook_sizes():
    cfg = get_twin("lstm").config
    assert (cfg.embed_dim, cfg.hidden, cfg.num_classes) == (16, 32, 2)


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("bilstm", {"head": "sigmoid", "num_classes": 2}, "num_classes"),
        ("mlp", {"head": "sigmoid"}, "num_classes"),
        ("gru", {"head": "softmax"}, "head"),
        ("bilstm", {"dropout": 1.0}, "dropout"),
        ("lstm", {"hidden": 0}, "hidden"),
        ("tagger", {"num_tags": 0}, "num_tags"),
        ("cnn", {"kernel_sizes": []}, "kernel_sizes"),
        ("cnn", {"kernel_sizes": [3, -1]}, "kernel_sizes"),
        ("transformer", {"embed_dim": 30, "num_heads": 4}, "num_heads"),
        ("transformer", {"pool": "max"}, "pool"),
        ("transformer", {"embed_dim": 4, "num_heads": 4}, "num_heads"),  # one dimension per head
        ("mlp", {"length": 0}, "length"),
        ("lstm", {"num_layers": True}, "num_layers"),
    ],
)
def test_bad_configs_name_the_field(name, overrides, field):
    with pytest.raises(ConfigError, match=rf"twin '{name}': {field}:"):
        get_twin(name, **overrides)


#: twin -> (its torch RNN attribute, its Keras layer, (torch gate block, Keras gate block) pairs, the
#: torch parameters perturbed -> where each lands in Keras: (weight index, bias row or ())).
GATE_ORDERS = {
    # i, f, g, o in both frameworks; Keras holds one bias (b_ih + b_hh)
    "lstm": ("lstm", "lstm_0", ((0, 0), (1, 1), (2, 2), (3, 3)),
             {"weight_ih_l0": (0, ()), "weight_hh_l0": (1, ()), "bias_hh_l0": (2, ())}),
    # torch packs (r, z, n), Keras (z, r, n): a torch reset-gate change lands in Keras block 1;
    # Keras keeps the input and recurrent biases apart (rows 0 and 1)
    "gru": ("rnn", "rnn_0", ((0, 1), (1, 0), (2, 2)), {"weight_ih_l0": (0, ()), "bias_hh_l0": (2, (1,))}),
}


@pytest.mark.parametrize("name", sorted(GATE_ORDERS))
def test_gate_blocks_one_by_one_land_in_the_keras_order(name):
    """Perturb one torch gate block at a time: only the matching Keras block moves, by as much."""
    import torch

    attr, layer, order, lands = GATE_ORDERS[name]
    twin = get_twin(name, vocab_size=20, embed_dim=4, hidden=3)
    tm, km = build_pair(twin)
    h = twin.config.hidden
    twin.torch_to_keras(tm, km)
    base = km.get_layer(layer).get_weights()
    for torch_block, keras_block in order:
        tm2, km2 = build_pair(twin)
        tm2.load_state_dict(tm.state_dict())
        expected = [np.zeros_like(w) for w in base]
        with torch.no_grad():
            for delta, (param, (index, row)) in enumerate(lands.items(), start=1):
                getattr(getattr(tm2, attr), param)[torch_block * h:(torch_block + 1) * h] += float(delta)
                expected[index][(*row, ..., slice(keras_block * h, (keras_block + 1) * h))] += delta
        twin.torch_to_keras(tm2, km2)
        for got, was, want in zip(km2.get_layer(layer).get_weights(), base, expected):
            np.testing.assert_allclose(got - was, want, atol=1e-6)


def test_bidirectional_readout_sees_both_ends():
    """[h_fwd_last, h_bwd_first]: changing the first token moves the backward half at the end."""
    twin = get_twin("bilstm", vocab_size=30, hidden=4)
    tm, km = build_pair(twin)
    twin.torch_to_keras(tm, km)
    a = np.array([[3, 4, 5, 6, 7]], dtype=np.int64)
    b = a.copy()
    b[0, 0] = 9
    assert not np.allclose(keras_out(km, a), keras_out(km, b))
    for x in (a, b):
        np.testing.assert_allclose(keras_out(km, x), torch_out(tm, x), atol=TOL)
