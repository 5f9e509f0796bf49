"""load_vec (.vec text format) and the `embedding_matrix` / `freeze_embedding` config fields."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from twinbench.core.errors import ConfigError, DataError
from twinbench.models.embeddings import load_vec, save_matrix
from twinbench.models.registry import get_twin, list_twins

WORDS = ["<pad>", "<unk>", "good", "bad", "film"]


def write_vec(tmp_path, body: str, header: str = "3 4") -> str:
    path = tmp_path / "wiki.vec"
    path.write_text(header + "\n" + body, encoding="utf-8")
    return str(path)


VEC = "good 0.1 0.2 0.3 0.4 \nbad -1 -2 -3 -4\n<pad> 9 9 9 9\n"


def test_rows_follow_vocabulary_ids(tmp_path):
    m = load_vec(write_vec(tmp_path, VEC), WORDS, dim=4, seed=7)
    assert m.shape == (5, 4) and m.dtype == np.float32
    np.testing.assert_array_equal(m[2], np.float32([0.1, 0.2, 0.3, 0.4]))
    np.testing.assert_array_equal(m[3], np.float32([-1, -2, -3, -4]))
    np.testing.assert_array_equal(m[0], 0.0)  # pad row is zero even when the file has a vector for it


def test_missing_words_are_seeded_uniform(tmp_path):
    path = write_vec(tmp_path, VEC)
    a, b, c = (load_vec(path, WORDS, dim=4, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[4], c[4])
    assert np.all(np.abs(a[[1, 4]]) <= 0.25) and np.any(a[[1, 4]] != 0)


def test_accepts_a_vocab_object(tmp_path):
    from twinbench.models.vocab import Vocab

    vocab = Vocab.build(["good film", "bad"])
    m = load_vec(write_vec(tmp_path, VEC), vocab, dim=4, seed=1)
    assert m.shape == (len(vocab), 4)
    np.testing.assert_array_equal(m[vocab.words.index("bad")], np.float32([-1, -2, -3, -4]))


def test_dim_defaults_to_the_file(tmp_path):
    assert load_vec(write_vec(tmp_path, VEC), WORDS, seed=1).shape == (5, 4)


@pytest.mark.parametrize(
    ("header", "body", "error", "match"),
    [
        ("3 4", "good 0.1 0.2 0.3\n", DataError, r"wiki\.vec:2: expected a word and 4 values, got 3"),
        ("3 4", "good 1 2 3 4\nbad 1 2 x 4\n", DataError, r"wiki\.vec:3: bad float 'x'"),
        ("three four", VEC, DataError, r"wiki\.vec:1: bad header"),
        ("3", VEC, DataError, r"wiki\.vec:1: bad header"),
        ("3 5", VEC, ConfigError, r"dim: 4 requested"),
    ],
)
def test_errors_name_the_line(tmp_path, header, body, error, match):
    with pytest.raises(error, match=match):
        load_vec(write_vec(tmp_path, body, header), WORDS, dim=4, seed=1)


def test_missing_file_is_data_error(tmp_path):
    with pytest.raises(DataError, match="no such vectors file"):
        load_vec(tmp_path / "nope.vec", WORDS, dim=4, seed=1)


def test_not_utf8_is_data_error(tmp_path):
    path = tmp_path / "bad.vec"
    path.write_bytes(b"1 2\n\xff\xfe 1 2\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_vec(path, WORDS, seed=1)


EMBEDDING_TWINS = [n for n in list_twins() if hasattr(get_twin(n).config, "embedding_matrix")]


@pytest.mark.parametrize("name", EMBEDDING_TWINS)
@pytest.mark.parametrize("freeze", [False, True])
def test_pretrained_matrix_is_applied_identically(name, freeze, tmp_path):
    rng = np.random.default_rng(0)
    dim = get_twin(name).config.embed_dim
    matrix = rng.normal(size=(12, dim)).astype(np.float32)
    path = save_matrix(matrix, tmp_path / "emb.npy")
    twin = get_twin(name, vocab_size=12, embedding_matrix=path, freeze_embedding=freeze)
    tm, km = twin.build_torch(twin.config), twin.build_keras(twin.config)
    np.testing.assert_array_equal(tm.embedding.weight.detach().numpy(), matrix)
    np.testing.assert_array_equal(km.get_layer("embedding").get_weights()[0], matrix)
    assert tm.embedding.weight.requires_grad is (not freeze)
    assert km.get_layer("embedding").trainable is (not freeze)


def test_matrix_shape_mismatch_is_config_error(tmp_path):
    path = save_matrix(np.zeros((5, 3), np.float32), tmp_path / "emb.npy")
    twin = get_twin("lstm", vocab_size=12, embedding_matrix=path)
    with pytest.raises(ConfigError, match="does not match"):
        twin.build_torch(twin.config)


def test_freezing_without_matrix_is_rejected():
    with pytest.raises(ConfigError, match="freeze_embedding"):
        get_twin("lstm", freeze_embedding=True)
