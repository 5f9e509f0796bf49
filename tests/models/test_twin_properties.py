"""Property tests: transfer stays exact over layer counts, sizes, directions, heads and vocabularies."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from twinbench.models.registry import get_twin  # noqa: E402

TOL = 1e-6
small = st.integers(1, 5)


@st.composite
def rnn_head(draw):
    head = draw(st.sampled_from(["logits", "sigmoid"]))
    return {"head": head, "num_classes": 1 if head == "sigmoid" else draw(st.integers(1, 3))}


@st.composite
def transformer_cfg(draw):
    heads = draw(st.integers(1, 3))
    return {"num_heads": heads, "embed_dim": heads * draw(st.integers(1, 3)), "ff_dim": draw(small),
            "num_layers": draw(st.integers(1, 2)), "pool": draw(st.sampled_from(["mean", "first"])),
            "max_len": draw(st.integers(7, 12)), "num_classes": draw(st.integers(1, 3))}


COMMON = {"vocab_size": st.integers(2, 40), "embed_dim": small}
RNN = {"hidden": small, "num_layers": st.integers(1, 3)}
CONFIGS = {
    "lstm": st.fixed_dictionaries({**COMMON, **RNN, "num_classes": st.integers(1, 3)}),
    "bilstm": st.tuples(st.fixed_dictionaries({**COMMON, **RNN, "bidirectional": st.booleans()}), rnn_head()),
    "gru": st.tuples(st.fixed_dictionaries({**COMMON, **RNN, "bidirectional": st.booleans()}), rnn_head()),
    "tagger": st.fixed_dictionaries({**COMMON, **RNN, "bidirectional": st.booleans(), "num_tags": small}),
    "mlp": st.tuples(st.fixed_dictionaries({**COMMON, "length": small, "hidden": small,
                                            "num_hidden_layers": st.integers(1, 3)}), rnn_head()),
    "cnn": st.fixed_dictionaries({**COMMON, "kernel_sizes": st.lists(st.integers(1, 4), min_size=1, max_size=3),
                                  "filters": small, "num_classes": st.integers(1, 3)}),
    "transformer": st.tuples(st.fixed_dictionaries({"vocab_size": st.integers(2, 40)}), transformer_cfg()),
}


def _merge(drawn) -> dict:
    if isinstance(drawn, tuple):
        out: dict = {}
        for part in drawn:
            out.update(part)
        return out
    return drawn


def _check(name: str, overrides: dict, batch: int, extra_len: int, seed: int) -> None:
    import keras
    import torch

    twin = get_twin(name, **overrides)
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    tm, km = twin.build_torch(twin.config).eval(), twin.build_keras(twin.config)
    min_len = max(getattr(twin.config, "kernel_sizes", (1,)))
    seq = twin.fixed_length or min(min_len + extra_len, getattr(twin.config, "max_len", 10**6))
    x = np.random.default_rng(seed).integers(0, twin.config.vocab_size, size=(batch, seq), dtype=np.int64)
    twin.torch_to_keras(tm, km)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    got = np.asarray(km(x, training=False))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    # keras -> torch into a fresh torch model gives the same function, and back gives the same weights
    tm2 = twin.build_torch(twin.config).eval()
    twin.keras_to_torch(km, tm2)
    with torch.no_grad():
        np.testing.assert_allclose(tm2(torch.from_numpy(x)).numpy(), want, atol=TOL, rtol=0)
    km2 = twin.build_keras(twin.config)
    twin.torch_to_keras(tm2, km2)
    for a, b in zip(km.get_weights(), km2.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_transfer_exact_over_configs(name):
    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(CONFIGS[name], st.integers(1, 3), st.integers(0, 4), st.integers(0, 2**16))
    def check(drawn, batch, extra_len, seed):
        _check(name, _merge(drawn), batch, extra_len, seed)

    check()


def test_every_registered_twin_has_a_strategy() -> None:
    """A new built-in twin must come with its own config strategy here, or it is not property-tested."""
    from twinbench.models.registry import list_twins

    assert set(list_twins()) <= set(CONFIGS), set(list_twins()) - set(CONFIGS)
