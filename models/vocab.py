"""One vocabulary shared by both frameworks, so torch and Keras see identical token ids.

Layout: `<pad>` = 0, `<unk>` = 1, then the kept words sorted alphabetically (stable across runs and
machines, unlike frequency order with ties).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from twinbench.core.errors import ConfigError, DataError

PAD = 0
UNK = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
SIDES = ("right", "left")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Lowercase + whitespace split: the whole of our tokenisation, identical on both sides."""
    return (text.lower() if lowercase else text).split()


@dataclass(frozen=True)
class Vocab:
    """Frozen word list; index = token id. Build with `Vocab.build`, persist with `save`/`load`."""

    words: tuple[str, ...]
    lowercase: bool = True
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.words) < 2 or self.words[PAD] != PAD_TOKEN or self.words[UNK] != UNK_TOKEN:
            raise ValueError(f"words: must start with {PAD_TOKEN!r}, {UNK_TOKEN!r}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("words: duplicates are not allowed")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    PAD = PAD
    UNK = UNK

    @classmethod
    def build(cls, texts: Iterable[str], *, min_freq: int = 1, max_size: int | None = None,
              lowercase: bool = True) -> "Vocab":
        """Count words; drop those below `min_freq`; keep the `max_size` most frequent (ties
        alphabetical; `max_size` counts the two specials); then sort the kept words alphabetically."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(f"min_freq: must be a positive integer, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 3):
            raise ConfigError(f"max_vocab: must be an integer >= 3 (two specials + one word), got {max_size!r}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text, lowercase))
        for special in (PAD_TOKEN, UNK_TOKEN):
            counts.pop(special, None)
        kept = [(w, c) for w, c in counts.items() if c >= min_freq]
        if max_size is not None:
            kept = sorted(kept, key=lambda wc: (-wc[1], wc[0]))[: max_size - 2]
        return cls((PAD_TOKEN, UNK_TOKEN, *sorted(w for w, _ in kept)), lowercase=lowercase)

    def __len__(self) -> int:
        return len(self.words)

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.lowercase)

    def ids(self, text: str) -> list[int]:
        """Token ids of one text, unknown words -> UNK, no padding."""
        get = self._index.get
        return [get(w, UNK) for w in self.tokenize(text)]

    def encode(self, texts: Sequence[str], max_len: int, *, pad_side: str = "right",
               trunc_side: str = "right") -> np.ndarray:
        """int64 [N, max_len]; `trunc_side="right"` keeps the first words, "left" the last."""
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ConfigError(f"max_len: must be a positive integer, got {max_len!r}")
        for name, side in (("pad_side", pad_side), ("trunc_side", trunc_side)):
            if side not in SIDES:
                raise ConfigError(f"{name}: must be 'right' or 'left', got {side!r}")
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = self.ids(text)
            ids = ids[:max_len] if trunc_side == "right" else ids[-max_len:] if ids else ids
            if ids:
                if pad_side == "right":
                    out[row, : len(ids)] = ids
                else:
                    out[row, max_len - len(ids):] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words of the ids, pads dropped (for reports)."""
        return " ".join(self.words[i] for i in ids if i != PAD)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"words": list(self.words), "lowercase": self.lowercase}, indent=0),
                              encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a file written by `save`; anything wrong -> one DataError naming the file."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{p}: vocabulary file does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{p}: not a readable vocabulary JSON ({exc})") from None
        words = raw.get("words") if isinstance(raw, dict) else None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DataError(f"{p}: expected an object with a 'words' list of strings")
        try:
            return cls(tuple(words), lowercase=bool(raw.get("lowercase", True)))
        except ValueError as exc:
            raise DataError(f"{p}: {exc}") from None
