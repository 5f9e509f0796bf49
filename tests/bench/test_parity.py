"""Profiles, profile choice, the comparison metrics, parity inputs and the float64 golden."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbench.bench.parity.compare import compare
from twinbench.bench.parity.inputs import (golden_outputs, load_batches, parity_inputs, save_golden,
                                           save_parity_inputs)
from twinbench.bench.parity.profiles import PROFILES, choose_profile, explain_profile, get_profile
from twinbench.bench.parity.verdict import overall_verdict
from twinbench.core.errors import ConfigError, DataError
from twinbench.models.registry import get_twin, list_twins

# ---------------------------------------------------------------- profiles


def test_profiles_are_named_and_ordered_by_looseness():
    assert set(PROFILES) == {"fp64", "fp32", "tf32", "bf16", "fp16", "int8"}
    assert PROFILES["fp32"].atol <= 1e-5 and PROFILES["fp32"].rtol == 0.0  # the hard requirement
    assert PROFILES["fp64"].atol <= 1e-10 and PROFILES["fp64"].rtol <= 1e-10  # the golden's own check
    order = ["fp64", "fp32", "tf32", "fp16", "bf16", "int8"]
    atols = [PROFILES[n].atol for n in order]
    assert atols == sorted(atols)
    with pytest.raises(ConfigError, match="unknown parity profile"):
        get_profile("fp8")


@pytest.mark.parametrize("args, expected", [
    (("fp32", "ort-cpu", "cpu", {}), "fp32"),
    (("fp16", "ort-cpu", "cpu", {}), "fp16"),
    (("int8", "openvino", "cpu", {"inference_precision": "bf16"}), "int8"),
    (("fp32", "openvino", "cpu", {"inference_precision": "bf16"}), "bf16"),
    (("fp32", "openvino", "cpu", '{"inference_precision": "bf16"}'), "bf16"),  # JSON as in results rows
    (("fp32", "openvino", "cpu", {"inference_precision": "<Type: 'bfloat16'>"}), "bf16"),
    (("fp32", "ort-openvino", "cpu", {"inference_precision": "f32"}), "fp32"),
    (("fp32", "openvino", "cpu", {}), "bf16"),  # not reported: assume the CPU default may be bf16
    (("fp32", "ort-cuda", "cuda", {}), "tf32"),
    (("fp32", "tf-function", "cuda", {"allow_tf32": True}), "tf32"),
    (("fp32", "torch", "cuda", {"allow_tf32": False}), "fp32"),
    (("fp32", "torch", "cpu", {"allow_tf32": True}), "fp32"),  # TF32 is a CUDA matter only
])
def test_choose_profile(args, expected):
    assert choose_profile(*args) == expected
    name, reason = explain_profile(*args)
    assert name == expected and reason


# ---------------------------------------------------------------- compare


def _golden(shape=(10, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def test_identical_outputs_pass_with_exact_metrics():
    g = _golden()
    r = compare(g, g.astype(np.float32), "fp32")
    assert r["verdict"] == "PASS" and r["error"] == ""
    assert r["max_abs"] < 1e-6 and r["cosine"] == pytest.approx(1.0) and r["argmax_agree"] == 1.0
    assert r["n"] == 10


def test_metrics_are_exact_on_a_known_difference():
    g = np.array([[1.0, 0.0], [2.0, -1.0], [0.0, 0.5]])
    a = g.copy()
    a[1, 0] += 3e-5
    r = compare(g, a, "fp32")
    assert r["verdict"] == "FAIL" and r["worst_index"] == 1
    assert r["max_abs"] == pytest.approx(3e-5)
    assert r["max_rel"] == pytest.approx(3e-5 / 2.0)
    assert r["mean_abs"] == pytest.approx(3e-5 / 6)
    assert r["rmse"] == pytest.approx(math.sqrt((3e-5) ** 2 / 6))
    assert "exceeds atol" in r["error"]


def test_fp32_bound_is_1e5_absolute():
    g = _golden()
    assert compare(g, g + 0.9e-5, "fp32")["verdict"] == "PASS"
    assert compare(g, g + 1.1e-5, "fp32")["verdict"] == "FAIL"


def test_max_rel_uses_the_floor():
    g = np.array([[0.0, 1.0]])
    r = compare(g, g + [[1e-6, 0.0]], "fp32")
    assert r["max_rel"] == pytest.approx(1e-6 / PROFILES["fp32"].rel_floor)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_outputs_fail_with_a_reason(bad):
    g = _golden()
    a = g.copy()
    a[4, 1] = bad
    r = compare(g, a, "int8")
    assert r["verdict"] == "FAIL" and "NaN/Inf" in r["error"] and r["worst_index"] == 4


def test_shape_mismatch_fails_with_a_reason():
    r = compare(_golden((4, 2)), _golden((4, 3)), "int8")
    assert r["verdict"] == "FAIL" and "shape mismatch" in r["error"]


def test_argmax_is_per_token_for_tag_outputs_and_tie_aware():
    g = np.zeros((2, 5, 3))
    g[..., 0] = 1.0
    a = g.copy()
    a[1, 4] = [0.0, 1.0, 0.0]                        # one token of ten flips
    r = compare(g, a, "int8")
    assert r["argmax_agree"] == pytest.approx(0.9)
    tie = np.array([[0.5, 0.5 + 1e-7]])               # a tie at fp32 precision is no disagreement
    assert compare(tie, tie[:, ::-1], "fp32")["argmax_agree"] == 1.0


def test_cosine_floor_fails_int8_even_within_the_elementwise_bound():
    g = np.array([[2.0, -2.0]] * 20)
    a = g + 0.3                                       # each error 0.3 <= 0.15 + 0.1 * 2, but skewed
    r = compare(g, a, "int8")
    assert r["max_abs"] <= 0.35 and r["cosine"] < 0.99
    assert r["verdict"] == "FAIL" and "cosine" in r["error"] and "exceeds" not in r["error"]


def test_topk_agreement_optional():
    g = _golden((6, 5))
    assert compare(g, g, "fp32", topk=2)["top2_agree"] == 1.0


def test_overall_verdict():
    import pandas as pd

    assert overall_verdict(pd.DataFrame({"verdict": ["PASS", "SKIP"]})) == "PASS"
    assert overall_verdict(pd.DataFrame({"verdict": ["PASS", "ERROR"]})) == "FAIL"
    assert overall_verdict(pd.DataFrame({"verdict": ["FAIL"]})) == "FAIL"
    assert overall_verdict(pd.DataFrame({"verdict": []})) == "SKIP"  # nothing checked is not a pass
    assert overall_verdict(pd.DataFrame({"verdict": ["SKIP", "SKIP"]})) == "SKIP"


# ---------------------------------------------------------------- inputs and golden


def _x_val(n=10, length=6, vocab=30, seed=0) -> np.ndarray:
    x = np.random.default_rng(seed).integers(2, vocab, size=(n, length))
    x[::2, length // 2:] = 0
    return x


def test_parity_inputs_cover_the_edge_cases():
    twin = get_twin("lstm", vocab_size=30)
    b = parity_inputs(_x_val(), 30, twin)
    assert {"val", "all_pad", "one_token", "full_length", "unk", "batch1", "large_batch", "long"} <= set(b)
    assert all(v.dtype == np.int64 for v in b.values())
    assert (b["all_pad"] == 0).all()
    assert (b["one_token"][:, 0] >= 2).all() and (b["one_token"][:, 1:] == 0).all()
    assert (b["full_length"] >= 2).all()
    assert (b["unk"] == 1).any() and (b["unk"][0] == 1).all()
    assert b["batch1"].shape == (1, 6) and b["large_batch"].shape == (256, 6)
    assert b["long"].shape[1] > 6
    assert all(v.max() < 30 for v in b.values())
    again = parity_inputs(_x_val(), 30, twin)
    assert all((again[k] == b[k]).all() for k in b)  # deterministic


def test_parity_inputs_keep_fixed_length():
    class Fixed:
        name, fixed_length = "mlp", 6

    b = parity_inputs(_x_val(), 30, Fixed())
    assert "long" not in b and {v.shape[1] for v in b.values()} == {6}
    with pytest.raises(DataError, match="needs length 8"):
        Fixed.fixed_length = 8
        parity_inputs(_x_val(), 30, Fixed())


def test_parity_inputs_reject_bad_ids():
    with pytest.raises(DataError, match="outside"):
        parity_inputs(_x_val(vocab=30), 10, None)
    with pytest.raises(DataError, match="x_val"):
        parity_inputs(np.zeros((3,), dtype=np.int64), 10, None)


def test_parity_inputs_accept_a_splits_like_object():
    class Splits:
        x_val = _x_val()
        vocab = list(range(30))

    twin = get_twin("lstm", vocab_size=30)
    assert set(parity_inputs(Splits(), twin)) == set(parity_inputs(_x_val(), 30, twin))


def test_save_and_load_round_trip(tmp_path):
    b = parity_inputs(_x_val(), 30, None)
    save_parity_inputs(tmp_path / "p.npz", b)
    back = load_batches(tmp_path / "p.npz")
    assert set(back) == set(b) and all((back[k] == b[k]).all() for k in b)
    save_golden(tmp_path / "g.npz", {"val": np.ones((2, 2), dtype=np.float32)})
    assert load_batches(tmp_path / "g.npz")["val"].dtype == np.float64


@pytest.mark.parametrize("name", list_twins())
def test_golden_is_float64_and_fp32_torch_is_within_fp32_profile(name):
    """Every twin: the float64 golden and the float32 model agree within the fp32 profile on every
    parity batch; the caller's model is left untouched (still float32)."""
    import torch

    twin = get_twin(name, vocab_size=30)
    torch.manual_seed(0)
    model = twin.build_torch(twin.config).eval()
    length = twin.fixed_length or 6
    batches = parity_inputs(_x_val(length=length), 30, twin)
    golden = golden_outputs(twin, model, batches)
    assert next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        for k, x in batches.items():
            assert golden[k].dtype == np.float64
            fp32 = model(torch.from_numpy(x)).numpy()
            r = compare(golden[k], fp32, "fp32")
            assert r["verdict"] == "PASS", f"{name}/{k}: {r['error']}"


def test_long_batch_respects_a_maximum_length():
    twin = get_twin("transformer", vocab_size=30, max_len=6)
    assert "long" not in parity_inputs(_x_val(), 30, twin)
    twin = get_twin("transformer", vocab_size=30, max_len=9)
    assert parity_inputs(_x_val(), 30, twin)["long"].shape == (4, 9)


def test_single_logit_outputs_are_judged_by_sign():
    g = np.array([[2.0], [-1.0], [1e-7], [0.5]])
    a = np.array([[1.9], [1.0], [-1e-7], [0.5]])    # row 1 flips, row 2 is a tie at fp32
    assert compare(g, a, "int8")["argmax_agree"] == pytest.approx(0.75)


@pytest.mark.slow
def test_keras_golden_equals_torch_golden_for_transferred_weights():
    """keras_golden_outputs moves the Keras weights into torch through the twin's own mapping: with
    the torch weights copied into Keras first, both goldens agree up to the float32 rounding of
    torch's bias_ih + bias_hh into Keras' single bias (a few 1e-8 at the logits)."""
    import torch

    from twinbench.bench.parity.inputs import keras_golden_outputs

    twin = get_twin("lstm", vocab_size=30)
    torch.manual_seed(0)
    model = twin.build_torch(twin.config).eval()
    keras_model = twin.build_keras(twin.config)
    twin.torch_to_keras(model, keras_model)
    batches = parity_inputs(_x_val(), 30, twin)
    a, b = golden_outputs(twin, model, batches), keras_golden_outputs(twin, keras_model, batches)
    assert max(np.abs(a[k] - b[k]).max() for k in batches) <= 1e-6


def test_cosine_is_not_judged_on_outputs_as_small_as_the_noise():
    g = np.full((4, 2), 1e-6) * [[1, -1]]
    a = g + 3e-6 * np.array([[1, 1]])               # direction changes, every error within atol 1e-5
    r = compare(g, a, "fp32")
    assert r["cosine"] < 0.9 and r["verdict"] == "PASS"


@pytest.mark.parametrize("profile", sorted(set(PROFILES) - {"fp64"}))
def test_float32_rounding_of_the_golden_passes_every_profile(profile):
    """Property: an output that is the golden rounded to float32 (what an exact fp32 runtime gives)
    passes every runtime profile, for logits of any sign up to 100 in size and any shape. (fp64
    judges the float64 golden against the float64 reference: fp32 rounding must fail it.)"""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    shapes = st.tuples(st.integers(1, 6), st.integers(1, 5)) | st.tuples(st.integers(1, 3), st.integers(1, 4),
                                                                          st.integers(2, 4))
    finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)

    @settings(max_examples=60, deadline=None)
    @given(shapes.flatmap(lambda s: arrays(np.float64, s, elements=finite)))
    def check(g):
        r = compare(g, g.astype(np.float32), profile)
        assert r["verdict"] == "PASS", r["error"]

    check()
