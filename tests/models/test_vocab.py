"""Vocab: layout, frequency cuts, encoding sides, save/load errors."""

from __future__ import annotations

import numpy as np
import pytest

from twinbench.core.errors import DataError
from twinbench.models.vocab import PAD, UNK, Vocab


def test_layout_is_specials_then_alphabetical() -> None:
    v = Vocab.build(["The cat sat", "a cat"])
    assert v.words == ("<pad>", "<unk>", "a", "cat", "sat", "the")
    assert (PAD, UNK, len(v)) == (0, 1, 6)


def test_min_freq_and_max_size_keep_most_frequent_ties_alphabetical() -> None:
    texts = ["b b b a a c c d"]
    assert Vocab.build(texts, min_freq=2).words[2:] == ("a", "b", "c")
    assert Vocab.build(texts, max_size=4).words[2:] == ("a", "b")  # b(3), then a/c tie -> a


def test_encode_pad_and_trunc_sides() -> None:
    v = Vocab.build(["a b c d"])
    a, b, c, d = (v.words.index(w) for w in "abcd")
    assert v.encode(["a b"], 4).tolist() == [[a, b, 0, 0]]
    assert v.encode(["a b"], 4, pad_side="left").tolist() == [[0, 0, a, b]]
    assert v.encode(["a b c d"], 2).tolist() == [[a, b]]
    assert v.encode(["a b c d"], 2, trunc_side="left").tolist() == [[c, d]]
    out = v.encode(["zzz", ""], 3)
    assert out.dtype == np.int64 and out.tolist() == [[UNK, 0, 0], [0, 0, 0]]


def test_save_load_roundtrip_and_errors(tmp_path) -> None:
    v = Vocab.build(["hello world"])
    v.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == v
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        Vocab.load(tmp_path / "bad.json")
    with pytest.raises(DataError, match="missing.json"):
        Vocab.load(tmp_path / "missing.json")
