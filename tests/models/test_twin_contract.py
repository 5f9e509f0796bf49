"""The written twin contract: what each twin declares (head, length field, accepted lengths) is
true of its models, and the one-line reasons the planner shows are the ones a user needs."""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from twinbench.core.errors import ConfigError
from twinbench.models.registry import Twin, get_twin, list_twins

TWINS = list_twins()


def _torch_runs(twin: Twin, seq: int) -> bool:
    import torch

    model = twin.build_torch(twin.config).eval()
    x = torch.from_numpy(np.full((2, seq), 2, dtype=np.int64))
    try:
        with torch.no_grad():
            model(x)
    except (RuntimeError, IndexError):
        return False
    return True


@pytest.mark.parametrize("name", TWINS)
def test_declared_lengths_are_the_ones_torch_takes(name: str) -> None:
    twin = get_twin(name, vocab_size=10)
    if twin.fixed_length:
        assert _torch_runs(twin, twin.fixed_length) and not _torch_runs(twin, twin.fixed_length + 1)
        return
    assert _torch_runs(twin, twin.min_seq_len)
    if twin.min_seq_len > 1:
        assert not _torch_runs(twin, twin.min_seq_len - 1)
    if twin.max_seq_len is not None:
        assert _torch_runs(twin, twin.max_seq_len) and not _torch_runs(twin, twin.max_seq_len + 1)


@pytest.mark.parametrize("name", TWINS)
def test_declared_head_and_length_field_match_the_config(name: str) -> None:
    twin = get_twin(name)
    assert twin.head == getattr(twin.config, "head", "logits")
    if twin.length_field is not None:
        fields = {f.name for f in dataclasses.fields(twin.config)}
        assert twin.length_field in fields
        assert getattr(twin.config, twin.length_field) in (twin.fixed_length, twin.max_seq_len)


def test_contract_of_the_builtins() -> None:
    assert get_twin("cnn", kernel_sizes=(2, 7)).min_seq_len == 7
    assert get_twin("transformer", max_len=40).max_seq_len == 40
    mlp = get_twin("mlp", length=12, head="sigmoid", num_classes=1)
    assert (mlp.fixed_length, mlp.length_field, mlp.head) == (12, "length", "sigmoid")
    assert get_twin("transformer").length_field == "max_len" and get_twin("lstm").length_field is None


def test_problems_name_the_twin_and_its_range() -> None:
    assert get_twin("cnn").seq_len_problem(3) == "twin 'cnn' accepts sequence lengths >= 5, got 3"
    assert get_twin("cnn").seq_len_problem(5) is None
    assert get_twin("transformer").seq_len_problem(100000) == (
        "twin 'transformer' accepts sequence lengths 1..128, got 100000")
    assert get_twin("mlp").seq_len_problem(15) == "twin 'mlp' accepts only sequence length 16, got 15"
    assert get_twin("lstm").seq_len_problem(0) == "twin 'lstm' accepts sequence lengths >= 1, got 0"
    assert get_twin("lstm").batch_problem(1) is None
    assert get_twin("lstm").batch_problem(0) == "twin 'lstm' accepts batch sizes >= 1, got 0"
    assert get_twin("lstm").batch_problem(True) is not None


def test_data_overrides() -> None:
    sizes = dict(vocab_size=50, num_outputs=3, max_len=20)
    assert get_twin("lstm").data_overrides(**sizes) == {"vocab_size": 50, "num_classes": 3}
    assert get_twin("tagger").data_overrides(**sizes) == {"vocab_size": 50, "num_tags": 3}
    assert get_twin("mlp").data_overrides(**sizes) == {"vocab_size": 50, "num_classes": 3, "length": 20}
    assert get_twin("transformer").data_overrides(**sizes)["max_len"] == 20
    sigmoid = get_twin("bilstm", head="sigmoid", num_classes=1).data_overrides(**sizes)
    assert sigmoid == {"vocab_size": 50}  # one probability whatever the number of labels
    vec = get_twin("cnn").data_overrides(**sizes, embedding_matrix="m.npy", embed_dim=4, freeze_embedding=True)
    assert (vec["embed_dim"], vec["embedding_matrix"], vec["freeze_embedding"]) == (4, "m.npy", True)
    filled = get_twin("mlp", **get_twin("mlp").data_overrides(**sizes))
    assert filled.fixed_length == 20 and filled.num_outputs == 3


@dataclasses.dataclass(frozen=True)
class _Cfg:
    vocab_size: int = 10
    num_classes: int = 2
    width: int = 4


def _twin(**contract) -> Twin:
    nothing = lambda *a: None  # noqa: E731
    return Twin("probe", contract.pop("config", _Cfg()), nothing, nothing, nothing, nothing, **contract)


def test_data_overrides_refuse_an_embedding_the_twin_cannot_take() -> None:
    with pytest.raises(ConfigError, match="'probe': has no embedding_matrix field"):
        _twin().data_overrides(vocab_size=5, num_outputs=2, max_len=4, embedding_matrix="m.npy")


@pytest.mark.parametrize(("contract", "field"), [
    ({"head": "softmax"}, "head"),
    ({"head": "sigmoid"}, "head"),  # num_classes=2
    ({"length_field": "length"}, "length_field"),
    ({"min_seq_len": 0}, "min_seq_len"),
    ({"min_seq_len": 5, "max_seq_len": 4}, "max_seq_len"),
    ({"fixed_length": 3, "min_seq_len": 4}, "fixed_length"),
    ({"task": "tag"}, "num_tags"),
])
def test_a_wrong_contract_is_refused(contract: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _twin(**contract)


def test_defaults_keep_a_minimal_twin_working() -> None:
    twin = _twin(length_field="width")
    assert (twin.head, twin.min_seq_len, twin.max_seq_len, twin.fixed_length) == ("logits", 1, None, None)
    assert twin.data_overrides(vocab_size=7, num_outputs=4, max_len=9) == {"vocab_size": 7, "num_classes": 4,
                                                                            "width": 9}
