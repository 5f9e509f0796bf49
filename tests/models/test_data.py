"""DataConfig validation, deterministic splits, built-in corpus and generators."""

from __future__ import annotations

import numpy as np
import pytest

from twinbench.core.errors import ConfigError, DataError
from twinbench.models import corpus, synthetic
from twinbench.models.data import DataConfig, load_data


@pytest.mark.parametrize("field, value", [
    ("source", "nope"), ("max_len", 0), ("val_fraction", 1.0), ("val_fraction", 0), ("min_freq", 0),
    ("pad_side", "middle"), ("trunc_side", "up"), ("size", 1), ("max_vocab", 2), ("task", "tag")])
def test_config_errors_name_the_field(field: str, value) -> None:
    with pytest.raises(ConfigError, match=field):
        DataConfig(**{field: value})


def test_file_source_needs_path() -> None:
    with pytest.raises(ConfigError, match="path"):
        DataConfig(source="csv")


def test_builtin_corpus_is_deterministic_balanced_and_has_negation() -> None:
    texts, labels = corpus.builtin_corpus()
    assert len(texts) >= 400 and len(set(texts)) == len(texts)
    assert sum(labels) * 2 == len(labels)
    assert any(" not " in t for t in texts) and any(t.startswith("i did not") for t in texts)
    lookup = dict(zip(texts, labels))
    assert all(lookup.get(t, y) == y for t, y in [("the movie was good", 1), ("the movie was not good", 0)])


def test_builtin_splits_are_deterministic() -> None:
    a, b = load_data(DataConfig()), load_data(DataConfig())
    assert a.x_train.shape[1] == 16 and a.x_train.dtype == np.int64 and a.y_train.dtype == np.int64
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert len(a.x_val) == round(len(corpus.builtin_corpus()[0]) * 0.25)
    assert a.label_names == ["negative", "positive"] and a.task == "classify"
    assert len(a.texts_val) == len(a.x_val) and a.fingerprint() == b.fingerprint()
    c = load_data(DataConfig(seed=1))
    assert not np.array_equal(a.y_val, c.y_val)


def test_synthetic_sentiment_labels() -> None:
    texts, y = synthetic.sentiment(200, seed=3)
    assert len(texts) == 200 and abs(int(y.sum()) - 100) <= 1
    for t, label in zip(texts, y):
        last = t.split(" but ")[-1].split()
        if last[-1] in synthetic.POSITIVE_ADJ + synthetic.NEGATIVE_ADJ:
            assert label == int((last[-1] in synthetic.POSITIVE_ADJ) ^ ("not" in last)), t


def test_synthetic_pos_and_tag_splits() -> None:
    s = load_data(DataConfig(source="synthetic-pos", size=80, max_len=8))
    assert s.task == "tag" and s.label_names[0] == "<PAD>"
    assert s.y_train.shape == s.x_train.shape and s.num_classes == len(s.label_names)
    assert np.array_equal(s.x_train == 0, s.y_train == 0)  # pad tag exactly where pad token


def test_csv_source_labels_sorted_numerically(tmp_path) -> None:
    rows = "".join(f"word{i % 5} thing,{i % 3 * 5}\n" for i in range(12))
    (tmp_path / "d.csv").write_text("text,label\n" + rows, encoding="utf-8")
    s = load_data(DataConfig(source="csv", path=str(tmp_path / "d.csv")))
    assert s.label_names == ["0", "5", "10"] and len(s.x_train) + len(s.x_val) == 12


def test_empty_split_is_a_data_error(tmp_path) -> None:
    (tmp_path / "d.csv").write_text("text,label\na,0\nb,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty validation split"):
        load_data(DataConfig(source="csv", path=str(tmp_path / "d.csv"), val_fraction=0.1))
