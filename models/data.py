"""Data for the twins: one config, one loader, one deterministic split shared by both frameworks.

`load_data(cfg)` reads (or generates) texts, splits them with a permutation from `cfg.seed`, builds
the vocabulary on the training part only (validation words it never saw become `<unk>`, as they
would in production) and encodes everything to int64 ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from twinbench.core.errors import ConfigError, DataError
from twinbench.core.typed import number
from twinbench.models.vocab import SIDES, Vocab
from twinbench.models import corpus, loaders, synthetic

CLASSIFY_SOURCES = ("builtin", "synthetic-sentiment", "csv", "tsv", "parquet", "jsonl", "imdb-folder", "polarity")
TAG_SOURCES = ("synthetic-pos", "tagged", "conllu")
SOURCES = CLASSIFY_SOURCES + TAG_SOURCES
FILE_SOURCES = ("csv", "tsv", "parquet", "jsonl", "imdb-folder", "polarity", "tagged", "conllu")
#: The most examples a data set may hold, and the longest sequence (a bound that keeps a typo such as
#: `size = 1e9` a config error, not an hour of generating text or a MemoryError).
MAX_SIZE, MAX_LEN = 5_000_000, 1 << 16
#: Sizes of the generated sets when `size` is not given.
DEFAULT_SIZES = {"synthetic-sentiment": 2000, "synthetic-pos": 1000}
TAG_PAD = "<PAD>"


def _positive_int(name: str, value: Any, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}: must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is cut. `task` is implied by `source` (None = implied);
    `labels` fixes the label set and order of file sources (anything else is a DataError)."""

    source: str = "builtin"
    path: str | Mapping[str, str] | None = None
    size: int | None = number(None, ge=2, le=MAX_SIZE)
    seed: int = 1337
    max_len: int = number(16, ge=1, le=MAX_LEN)
    val_fraction: float = 0.25
    min_freq: int = 1
    max_vocab: int | None = None
    lowercase: bool = True
    text_column: str = "text"
    label_column: str = "label"
    pad_side: str = "right"
    trunc_side: str = "right"
    task: str | None = None
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"source: unknown {self.source!r} (known: {', '.join(SOURCES)})")
        if self.source in FILE_SOURCES and not self.path:
            raise ConfigError(f"path: source {self.source!r} needs a path")
        if self.source not in FILE_SOURCES and self.path is not None:
            raise ConfigError(f"path: source {self.source!r} reads no file, got {self.path!r}")
        if isinstance(self.path, Mapping) and self.source != "polarity":
            raise ConfigError("path: a class -> file mapping is only for source 'polarity'")
        if self.size is not None:
            _positive_int("size", self.size, minimum=2)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {self.seed!r}")
        _positive_int("max_len", self.max_len)
        vf = self.val_fraction
        if isinstance(vf, bool) or not isinstance(vf, (int, float)) or not 0.0 < vf < 1.0:
            raise ConfigError(f"val_fraction: must be a number in (0, 1), got {vf!r}")
        _positive_int("min_freq", self.min_freq)
        if self.max_vocab is not None:
            _positive_int("max_vocab", self.max_vocab, minimum=3)
        if not isinstance(self.lowercase, bool):
            raise ConfigError(f"lowercase: must be true or false, got {self.lowercase!r}")
        for name in ("text_column", "label_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{name}: must be a non-empty string")
        for name in ("pad_side", "trunc_side"):
            if getattr(self, name) not in SIDES:
                raise ConfigError(f"{name}: must be 'right' or 'left', got {getattr(self, name)!r}")
        if self.task is not None and self.task != self.resolved_task:
            raise ConfigError(f"task: source {self.source!r} is a {self.resolved_task!r} source, got {self.task!r}")
        if self.labels is not None:
            if isinstance(self.labels, str) or len(self.labels) < 2:
                raise ConfigError(f"labels: must be a list of at least two label names, got {self.labels!r}")
            object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
            if len(set(self.labels)) != len(self.labels):
                raise ConfigError(f"labels: each label name may appear once, got {list(self.labels)}")

    @property
    def resolved_task(self) -> str:
        return "tag" if self.source in TAG_SOURCES else "classify"

    @property
    def where(self) -> str:
        """What to name in an error about the data as a whole."""
        return str(self.path) if self.path else f"source {self.source!r}"


@dataclass(frozen=True)
class Splits:
    """Encoded train/val sets. Classify: y int64 [N]. Tag: y int64 [N, L], 0 = pad tag."""

    vocab: Vocab
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    label_names: list[str]
    task: str = "classify"
    texts_val: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        """sha1 of vocabulary and arrays: a checkpoint trained on other data is not reused."""
        h = hashlib.sha1("\n".join(self.vocab.words).encode())
        for a in (self.x_train, self.y_train, self.x_val, self.y_val):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


# -- reading --------------------------------------------------------------------------------------


def _read_classify(cfg: DataConfig) -> tuple[dict[str, tuple[list[str], list[str]]], list[str] | None]:
    """{split name: (texts, label strings)} and the fixed label order where the source has one."""
    if cfg.source == "builtin":
        texts, labels = corpus.builtin_corpus()
        names = corpus.label_names()
        return {"all": (list(texts), [names[y] for y in labels])}, names
    if cfg.source == "synthetic-sentiment":
        size = cfg.size or DEFAULT_SIZES[cfg.source]
        texts, y = synthetic.sentiment(size, cfg.seed)
        names = list(synthetic.LABEL_NAMES)
        return {"all": (texts, [names[i] for i in y])}, names
    if cfg.source in ("csv", "tsv", "parquet", "jsonl"):
        data = loaders.read_table(cfg.path, cfg.source, text_column=cfg.text_column,
                                  label_column=cfg.label_column, labels=cfg.labels)
        return {"all": data}, None
    if cfg.source == "imdb-folder":
        return loaders.read_imdb_folder(cfg.path), ["neg", "pos"]
    texts, labels = loaders.read_polarity(cfg.path)
    return {"all": (texts, labels)}, None


def _label_order(found: Sequence[str], fixed: Sequence[str] | None, cfg: DataConfig) -> list[str]:
    if cfg.labels is not None:
        return list(cfg.labels)
    if fixed is not None:
        return list(fixed)
    uniq = sorted(set(found))
    try:  # numeric labels sort as numbers ("2" after "10" would surprise)
        return sorted(uniq, key=float)
    except ValueError:
        return uniq


def _split_indices(n: int, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """One permutation from the seed; the first `round(n * val_fraction)` go to validation."""
    order = np.random.default_rng(cfg.seed).permutation(n)
    n_val = int(round(n * cfg.val_fraction))
    if n_val < 1 or n_val >= n:
        raise DataError(f"{cfg.where}: val_fraction={cfg.val_fraction} of {n} examples leaves an empty "
                        f"{'validation' if n_val < 1 else 'training'} split")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _cap(items: list[Any], cfg: DataConfig, salt: int) -> list[Any]:
    """At most `size` items, a seeded sample (files may be sorted by class)."""
    if cfg.size is None or cfg.source in DEFAULT_SIZES or len(items) <= cfg.size:
        return items
    idx = np.sort(np.random.default_rng(cfg.seed + salt).permutation(len(items))[: cfg.size])
    return [items[i] for i in idx]


def _load_classify(cfg: DataConfig) -> Splits:
    parts, fixed = _read_classify(cfg)
    pairs = {k: _cap(list(zip(*v)), cfg, i) for i, (k, v) in enumerate(parts.items())}
    if "train" in pairs and "test" in pairs:  # a folder that ships its own split keeps it
        train, val = pairs["train"], pairs["test"]
    else:
        both = [p for v in pairs.values() for p in v]
        tr, va = _split_indices(len(both), cfg)
        train, val = [both[i] for i in tr], [both[i] for i in va]
    names = _label_order([y for _, y in train + val], fixed, cfg)
    if len(set(y for _, y in train + val)) < 2:
        raise DataError(f"{cfg.where}: needs at least two classes, found {sorted(set(y for _, y in train + val))}")
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({y for _, y in train + val} - set(index))
    if unknown:
        raise DataError(f"{cfg.where}: labels {unknown[:5]} are not among the configured labels {names}")
    vocab = Vocab.build([t for t, _ in train], min_freq=cfg.min_freq, max_size=cfg.max_vocab,
                        lowercase=cfg.lowercase)

    def enc(rows: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        texts = [t for t, _ in rows]
        x = vocab.encode(texts, cfg.max_len, pad_side=cfg.pad_side, trunc_side=cfg.trunc_side)
        return x, np.asarray([index[y] for _, y in rows], dtype=np.int64)

    x_tr, y_tr = enc(train)
    x_va, y_va = enc(val)
    return Splits(vocab, x_tr, y_tr, x_va, y_va, len(names), names, "classify", [t for t, _ in val])


# -- tagging --------------------------------------------------------------------------------------


def _read_tagged(cfg: DataConfig) -> list[list[tuple[str, str]]]:
    if cfg.source == "synthetic-pos":
        return synthetic.pos_sentences(cfg.size or DEFAULT_SIZES[cfg.source], cfg.seed)
    sents = loaders.read_tagged(cfg.path) if cfg.source == "tagged" else loaders.read_conllu(cfg.path)
    return _cap(sents, cfg, 0)


def _align(tags: list[int], cfg: DataConfig) -> np.ndarray:
    """Pad/truncate one tag row exactly as Vocab.encode does the words."""
    L = cfg.max_len
    tags = tags[:L] if cfg.trunc_side == "right" else tags[-L:]
    row = np.zeros(L, dtype=np.int64)
    if cfg.pad_side == "right":
        row[: len(tags)] = tags
    else:
        row[L - len(tags):] = tags
    return row


def _load_tag(cfg: DataConfig) -> Splits:
    sents = [[(w.replace(" ", "_"), t) for w, t in s] for s in _read_tagged(cfg)]
    tag_names = [TAG_PAD] + sorted({t for s in sents for _, t in s} - {TAG_PAD})
    tag_index = {t: i for i, t in enumerate(tag_names)}
    tr, va = _split_indices(len(sents), cfg)
    texts = [" ".join(w for w, _ in s) for s in sents]
    vocab = Vocab.build([texts[i] for i in tr], min_freq=cfg.min_freq, max_size=cfg.max_vocab,
                        lowercase=cfg.lowercase)

    def enc(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = vocab.encode([texts[i] for i in idx], cfg.max_len, pad_side=cfg.pad_side, trunc_side=cfg.trunc_side)
        y = np.stack([_align([tag_index[t] for _, t in sents[i]], cfg) for i in idx])
        return x, y

    x_tr, y_tr = enc(tr)
    x_va, y_va = enc(va)
    return Splits(vocab, x_tr, y_tr, x_va, y_va, len(tag_names), tag_names, "tag", [texts[i] for i in va])


def load_data(cfg: DataConfig) -> Splits:
    """Read, split (seeded), build the vocabulary on train, encode. Same cfg -> same arrays."""
    return _load_tag(cfg) if cfg.resolved_task == "tag" else _load_classify(cfg)
