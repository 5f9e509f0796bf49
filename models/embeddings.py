"""Pretrained word vectors from the `.vec` text format, as one matrix both frameworks load.

Format: a header line "count dim", then one line per word: the word and `dim` floats separated by
spaces. Rows follow the vocabulary's ids; words absent from the file get seeded uniform(-0.25, 0.25)
rows, and the pad row (id 0) is zero. Twins read the matrix from a .npy file named by their
`embedding_matrix` config field (see docs/twins.md), so torch and Keras start from the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.core.errors import ConfigError, DataError

PAD_ID = 0
MISSING_RANGE = 0.25


@dataclass(frozen=True)
class EmbeddingSpec:
    """The run config's `[embeddings]` table: one .vec file applied to every twin with an embedding.

    The pipeline reads it once per task vocabulary, sets each twin's `embed_dim` to the file's
    dimension, and points `embedding_matrix` at the saved matrix.
    """

    vectors: str | None = None
    freeze: bool = False
    seed: int = 1337

    def __post_init__(self) -> None:
        if self.vectors is not None and (not isinstance(self.vectors, str) or not self.vectors):
            raise ValueError(f"vectors: must be a path to a .vec file, got {self.vectors!r}")
        if not isinstance(self.freeze, bool):
            raise ValueError(f"freeze: must be true or false, got {self.freeze!r}")
        if self.freeze and self.vectors is None:
            raise ValueError("freeze: needs vectors (freezing a random embedding is a mistake)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {self.seed!r}")


def load_vec(path: str | Path, vocab_words: Sequence[str] | Any, *, dim: int | None = None, seed: int = 1337) -> np.ndarray:
    """A float32 [len(vocab_words), dim] matrix: row i is the vector of vocab_words[i].

    `vocab_words` lists the vocabulary in id order (id 0 = pad), or is a `Vocab` (its `.words`). `dim`, when given, must equal the
    file's dimension (a mismatch is a ConfigError). Missing words draw from one generator seeded
    with `seed` in id order, so the matrix depends only on (file, vocabulary, seed).
    """
    return read_vec(path, vocab_words, dim=dim, seed=seed)[0]


def read_vec(path: str | Path, vocab_words: Sequence[str] | Any, *, dim: int | None = None,
             seed: int = 1337) -> tuple[np.ndarray, int]:
    """`load_vec`'s matrix and how many vocabulary words the file had (coverage is worth reporting:
    a vectors file that misses most of the vocabulary is mostly random rows)."""
    path = Path(path)
    vocab_words = list(getattr(vocab_words, "words", vocab_words))
    if not path.is_file():
        raise DataError(f"{path}: no such vectors file")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ConfigError(f"dim: must be a positive integer, got {dim!r}")
    index = {w: i for i, w in reversed(list(enumerate(vocab_words)))}  # first id wins on duplicates
    with path.open("r", encoding="utf-8", errors="strict", newline="") as fh:
        try:
            file_dim = _read_header(path, fh.readline())
            if dim is not None and dim != file_dim:
                raise ConfigError(f"dim: {dim} requested but {path} holds {file_dim}-dimensional vectors")
            rng = np.random.default_rng(seed)
            matrix = rng.uniform(-MISSING_RANGE, MISSING_RANGE, size=(len(vocab_words), file_dim)).astype(np.float32)
            seen: set[str] = set()
            for lineno, line in enumerate(fh, start=2):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != file_dim + 1:
                    raise DataError(f"{path}:{lineno}: expected a word and {file_dim} values, got {len(parts) - 1} values")
                word = parts[0]
                if word in seen or word not in index:
                    continue
                seen.add(word)
                try:
                    matrix[index[word]] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    bad = next(p for p in parts[1:] if not _is_float(p))
                    raise DataError(f"{path}:{lineno}: bad float {bad!r} for word {word!r}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if len(vocab_words):
        matrix[PAD_ID] = 0.0
    if not np.isfinite(matrix).all():
        row = int(np.argwhere(~np.isfinite(matrix))[0][0])
        raise DataError(f"{path}: vector of {vocab_words[row]!r} is not finite")
    return matrix, len(seen)


def save_matrix(matrix: np.ndarray, path: str | Path) -> str:
    """Write the matrix as .npy for a twin's `embedding_matrix` field; returns the path as str."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(matrix, dtype=np.float32), allow_pickle=False)
    return str(path)


def _read_header(path: Path, line: str) -> int:
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[1]) < 1:
        raise DataError(f"{path}:1: bad header {line.strip()[:60]!r} (expected 'count dim')")
    return int(parts[1])


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
