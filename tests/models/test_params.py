"""param_table: per-layer torch vs Keras counts, every difference explained."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from twinbench.models.params import COLUMNS, param_table
from twinbench.models.registry import get_twin, list_twins


@pytest.mark.parametrize("name", list_twins())
def test_every_difference_is_explained(name):
    table = param_table(get_twin(name))
    assert list(table.columns) == COLUMNS
    assert table.iloc[-1]["layer"] == "total"
    body = table.iloc[:-1]
    assert body["torch"].sum() == table.iloc[-1]["torch"]
    assert body["keras"].sum() == table.iloc[-1]["keras"]
    for _, row in table.iterrows():
        assert row["difference"] == row["torch"] - row["keras"]
        assert (row["difference"] != 0) == bool(row["why"]), row.to_dict()
        assert "unexplained" not in row["why"]


def test_textbook_bilstm_matches_keras_summary():
    """The notebook's Keras summary: 2,757,761 params; torch adds one 4H bias per direction per layer."""
    twin = get_twin("bilstm", vocab_size=20000, embed_dim=128, hidden=64, num_layers=2, head="sigmoid", num_classes=1)
    table = param_table(twin).set_index("layer")
    assert table.loc["total", "keras"] == 2_757_761
    assert table.loc["total", "difference"] == 2 * 2 * 4 * 64
    assert table.loc["rnn_0", "keras"] == 98_816 and table.loc["rnn_1", "keras"] == 98_816
    assert "bias_hh" in table.loc["rnn_0", "why"]


def test_gru_has_no_difference():
    table = param_table(get_twin("gru", hidden=5, vocab_size=7))
    assert (table["difference"] == 0).all()
