"""The values fed to a model: token ids, and for files with several inputs the values that must
agree with them (exporters/onnx_inputs.py says which input has which role).

- token ids: deterministic from a seed, in [FIRST_WORD, vocab) (no PAD, no UNK);
- with a mask among the inputs the ids are right-padded as real batches are: the first row is full,
  the others end after a length drawn between a quarter of the sequence and all of it, and the mask
  is 1 exactly on the real tokens (position 0 always, where BERT's [CLS] is);
- token type ids are 0 everywhere (`segments`: 0 on the first half of each row's tokens, 1 after);
- position ids are 0..seq-1 on every row (one row when the file fixes the first dimension to 1).

A twin's cell (no roles given) gets the one `tokens` input, unpadded, exactly as before. Parity
input files keep one array per batch for token-only models and `batch/input` arrays for files with
several inputs (`pack` / `unpack`), so a user's golden inputs are fed exactly as given.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from twinbench.core.errors import ConfigError
from twinbench.exporters.onnx_inputs import InputSpec
from twinbench.models.registry import INPUT_NAME
from twinbench.models.vocab import PAD

#: Token ids are drawn from [FIRST_WORD, vocab_size): 0 is PAD and 1 is UNK.
FIRST_WORD = 2
#: Separator of batch and input names in a parity inputs file of a model with several inputs.
SEP = "/"


def specs(inputs: Iterable[Any]) -> tuple[InputSpec, ...]:
    return tuple(InputSpec.from_dict(i) for i in inputs)


def has_mask(inputs: Sequence[InputSpec]) -> bool:
    return any(s.role == "mask" for s in inputs)


def token_ids(rng: np.random.Generator, batch: int, seq: int, vocab: int, *, padded: bool) -> np.ndarray:
    """int64 [batch, seq] word ids; `padded`: rows after the first end early, PAD after their end."""
    ids = rng.integers(FIRST_WORD, max(vocab, FIRST_WORD + 1), size=(batch, seq), dtype=np.int64)
    if padded and seq > 1 and batch > 1:
        lengths = rng.integers(max(1, seq // 4), seq + 1, size=batch)
        lengths[0] = seq
        ids[np.arange(seq)[None, :] >= lengths[:, None]] = PAD
    return ids


def with_lengths(rng: np.random.Generator, lengths: Sequence[int], seq: int, vocab: int) -> np.ndarray:
    """int64 ids whose row i holds lengths[i] words then PAD."""
    ids = rng.integers(FIRST_WORD, max(vocab, FIRST_WORD + 1), size=(len(lengths), seq), dtype=np.int64)
    ids[np.arange(seq)[None, :] >= np.asarray(lengths)[:, None]] = PAD
    return ids


def _role_value(spec: InputSpec, ids: np.ndarray) -> np.ndarray:
    b, s = ids.shape
    if spec.role == "tokens":
        value = ids
    elif spec.role == "mask":
        value = ids != PAD
        value[:, 0] = True
    elif spec.role == "token_types":
        value = np.zeros((b, s), dtype=np.int64)
    elif spec.role == "segments":
        real = (ids != PAD).sum(axis=1, keepdims=True)
        value = (np.arange(s)[None, :] >= (real + 1) // 2) & (ids != PAD)
    elif spec.role == "positions":
        rows = 1 if spec.shape[:1] == (1,) else b
        value = np.broadcast_to(np.arange(s, dtype=np.int64), (rows, s))
    else:  # InputSpec's type already refuses other roles; a hand-written spec may not
        raise ConfigError(f"input {spec.name!r}: unknown role {spec.role!r}")
    return np.ascontiguousarray(value, dtype=np.dtype(spec.dtype))


def from_tokens(inputs: Sequence[InputSpec], ids: np.ndarray) -> dict[str, np.ndarray]:
    """Every input's value, consistent with the token ids `ids` (PAD = 0 marks padding)."""
    ids = np.asarray(ids, dtype=np.int64)
    if not inputs:
        return {INPUT_NAME: ids}
    return {s.name: _role_value(s, ids) for s in inputs}


def make_feeds(inputs: Sequence[InputSpec], batch: int, seq: int, vocab: int, seed: int) -> dict[str, np.ndarray]:
    """A cell's deterministic inputs: unpadded ids for a one-input model, padded ids and the
    values that agree with them when the model takes a mask."""
    rng = np.random.default_rng(seed)
    return from_tokens(inputs, token_ids(rng, batch, seq, vocab, padded=has_mask(inputs)))


def rows(feeds: Mapping[str, np.ndarray], index: Any) -> dict[str, np.ndarray]:
    """The same rows of every input (a position table of one row is shared by all)."""
    return {k: (v if v.shape[0] == 1 else v[index]) for k, v in feeds.items()}


def batch_size(feeds: Mapping[str, np.ndarray]) -> int:
    return max(int(v.shape[0]) for v in feeds.values())


def pack(batches: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Named batches of named inputs as one flat mapping for an .npz (`batch/input`)."""
    return {f"{b}{SEP}{name}": np.asarray(v) for b, feeds in batches.items() for name, v in feeds.items()}


def unpack(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """batch -> token ids (a twin's file) or batch -> {input: value} (a file with several inputs)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if SEP in key:
            batch, name = key.split(SEP, 1)
            out.setdefault(batch, {})[name] = value
        else:
            out[key] = value
    return out


def batch_feeds(inputs: Sequence[InputSpec], batch: Any) -> dict[str, np.ndarray]:
    """One parity batch as feeds: given per input, or token ids the other inputs are made from."""
    if isinstance(batch, Mapping):
        return {k: np.asarray(v) for k, v in batch.items()}
    return from_tokens(inputs, np.asarray(batch, dtype=np.int64))
