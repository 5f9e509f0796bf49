"""Property tests: transfer stays exact over layer counts, sizes, directions, heads and vocabularies."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from twinbench.models.registry import config_strategy, get_twin, list_twins  # noqa: E402

TOL = 1e-6


def seq_len_for(twin, extra_len: int) -> int:
    """A length the twin accepts, read from its contract: its fixed length, or min + extra capped at max."""
    if twin.fixed_length:
        return twin.fixed_length
    return min(twin.min_seq_len + extra_len, twin.max_seq_len or 10**6)


def _check(name: str, overrides: dict, batch: int, extra_len: int, seed: int) -> None:
    import keras
    import torch

    twin = get_twin(name, **overrides)
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    tm, km = twin.build_torch(twin.config).eval(), twin.build_keras(twin.config)
    seq = seq_len_for(twin, extra_len)
    assert twin.seq_len_problem(seq) is None
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


def check_transfer_over_configs(name: str, max_examples: int = 8) -> None:
    """Draw configs from the strategy the twin registered with and check exact transfer for each."""

    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(config_strategy(name), st.integers(1, 3), st.integers(0, 4), st.integers(0, 2**16))
    def check(overrides, batch, extra_len, seed):
        _check(name, overrides, batch, extra_len, seed)

    check()


@pytest.mark.slow
@pytest.mark.parametrize("name", list_twins())
def test_transfer_exact_over_configs(name):
    check_transfer_over_configs(name)


def test_every_builtin_twin_registers_a_config_strategy() -> None:
    """A built-in twin must say which configs to property-test (`register_twin(name, configs=...)`)."""
    from twinbench.models.registry import TWINS

    builtins = [n for n in list_twins() if TWINS[n].factory.__module__.startswith("twinbench.models.twins.")]
    assert builtins and all(TWINS[n].configs is not None for n in builtins), builtins
