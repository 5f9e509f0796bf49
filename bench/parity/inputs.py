"""Parity inputs and goldens: the named eval batches every runtime runs, and the float64 reference.

Every artifact x runtime is compared with ONE reference of the same weights: the torch model run in
float64 on CPU (`golden_outputs`); Keras-sourced artifacts with the Keras weights moved into that
model (`keras_golden_outputs`). Both are written once per twin when the run builds it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from twinbench.core.atomic import save_npz
from twinbench.core.errors import DataError, RunDirError

if TYPE_CHECKING:
    import torch

    from twinbench.core.layout import RunDir
    from twinbench.models.registry import Twin

PAD, UNK = 0, 1
FIRST_WORD = 2          # ids below are specials
LARGE_BATCH = 256
VAL_ROWS_MAX = 1024     # the val batch is capped so parity stays fast on big data sets
SEED = 1337


def _word_ids(rng: np.random.Generator, vocab_size: int, shape: tuple[int, ...]) -> np.ndarray:
    """Random ordinary word ids (UNK if the vocabulary has no ordinary words)."""
    if vocab_size <= FIRST_WORD:
        return np.full(shape, UNK, dtype=np.int64)
    return rng.integers(FIRST_WORD, vocab_size, size=shape, dtype=np.int64)


def parity_inputs(x_val: Any, vocab_size: Any = None, twin: "Twin | None" = None) -> dict[str, np.ndarray]:
    """Named int64 batches: the validation set plus the edge cases where exporters and runtimes
    break (all padding, one token, no padding, UNK, batch 1, a large batch, longer than trained).

    Accepts `(x_val, vocab_size, twin)` or `(splits, twin)` (a `Splits` carries both). Fixed-length
    twins keep their length (no `long` batch); twins with a maximum length (config `max_len`) get
    a `long` batch only up to it."""
    if hasattr(x_val, "x_val"):  # a Splits
        splits = x_val
        if twin is None and not isinstance(vocab_size, (int, np.integer)):
            twin, vocab_size = vocab_size, None
        x_val, vocab_size = splits.x_val, (vocab_size or len(splits.vocab))
    x = np.asarray(x_val)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"x_val: expected int token ids [N, max_len], got {x.dtype} {x.shape}")
    if vocab_size is None or int(vocab_size) < 2:
        raise DataError(f"vocab_size: expected >= 2 (PAD and UNK), got {vocab_size}")
    vocab_size = int(vocab_size)
    x = x.astype(np.int64)
    fixed = getattr(twin, "fixed_length", None)
    length = int(fixed) if fixed else max(int(x.shape[1]), 1)
    if fixed and x.shape[0] and x.shape[1] != fixed:
        raise DataError(f"x_val: twin {twin.name!r} needs length {fixed}, the data has {x.shape[1]}")
    if x.size and (x.min() < 0 or x.max() >= vocab_size):
        raise DataError(f"x_val: token ids outside [0, {vocab_size})")
    rng = np.random.default_rng(SEED)
    out: dict[str, np.ndarray] = {}
    if x.shape[0]:
        out["val"] = x[:VAL_ROWS_MAX]
    out["all_pad"] = np.zeros((2, length), dtype=np.int64)
    one = np.zeros((4, length), dtype=np.int64)
    one[:, 0] = _word_ids(rng, vocab_size, (4,))
    out["one_token"] = one
    out["full_length"] = _word_ids(rng, vocab_size, (8, length))
    unk = _word_ids(rng, vocab_size, (3, length))
    unk[0] = UNK                       # nothing but unknown words
    unk[1, ::2] = UNK                  # unknown words mixed with known ones
    unk[2, : max(1, length // 2)] = UNK
    unk[2, max(1, length // 2):] = PAD  # unknown words then padding
    out["unk"] = unk
    out["batch1"] = x[:1] if x.shape[0] else _word_ids(rng, vocab_size, (1, length))
    if x.shape[0]:
        out["large_batch"] = x[rng.integers(0, x.shape[0], size=LARGE_BATCH)]
    else:
        out["large_batch"] = _word_ids(rng, vocab_size, (LARGE_BATCH, length))
    longest = _max_length(twin)
    if not fixed and (longest is None or longest > length):
        out["long"] = _word_ids(rng, vocab_size, (4, min(2 * length, longest or 2 * length)))
    return {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in out.items()}


def _max_length(twin: Any) -> int | None:
    """The longest input a twin accepts (its declared `max_seq_len`), None if unbounded."""
    value = getattr(twin, "max_seq_len", None)
    return int(value) if value else None


def save_parity_inputs(path: str | Path, batches: Mapping[str, np.ndarray]) -> Path:
    """Write the named batches as one .npz (int64), atomically."""
    return _save_npz(path, {k: np.asarray(v, dtype=np.int64) for k, v in batches.items()})


def save_golden(path: str | Path, golden: Mapping[str, np.ndarray]) -> Path:
    """Write golden outputs as one .npz (float64), atomically."""
    return _save_npz(path, {k: np.asarray(v, dtype=np.float64) for k, v in golden.items()})


def _save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    return save_npz(path, arrays)


def load_batches(path: str | Path) -> dict[str, np.ndarray]:
    """Read a .npz of named arrays (RunDirError when missing or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # zip / format errors of every kind mean the same thing here
        raise RunDirError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def golden_outputs(twin: "Twin | None", torch_model: "torch.nn.Module",
                   batches: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The golden reference: the same weights in float64 on CPU, eval mode, no grad.

    A deep copy is converted so the caller's model stays float32 and on its device."""
    import torch

    model = copy.deepcopy(torch_model).to("cpu").double().eval()
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for name, x in batches.items():
            y = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)))
            if isinstance(y, (tuple, list)):
                y = y[0]
            out[name] = y.detach().cpu().numpy().astype(np.float64)
    return out


def keras_golden_outputs(twin: "Twin", keras_model: Any, batches: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The golden of the *Keras* weights: a fresh torch twin given the Keras weights through the
    twin's own `keras_to_torch`, run in float64. Keras-sourced artifacts (keras, tf2onnx and its
    variants) are judged against this, so a training drift between the two frameworks (synced or
    independent mode) is not mistaken for an export or runtime error."""
    return golden_outputs(twin, keras_weights_model(twin, keras_model), batches)


def keras_weights_model(twin: "Twin", keras_model: Any) -> "torch.nn.Module":
    """A fresh torch twin holding the Keras weights (the twin's own `keras_to_torch`), in eval mode:
    the model behind `golden.keras.npz`."""
    torch_model = twin.build_torch(twin.config)
    twin.keras_to_torch(keras_model, torch_model)
    return torch_model.eval()


def save_goldens(twin: "Twin", torch_model: Any, keras_model: Any, batches: Mapping[str, np.ndarray],
                 layout: "RunDir") -> list[Path]:
    """Write the golden of each framework's weights (Keras only when a Keras model is given)."""
    paths = [save_golden(layout.golden(twin.name, "torch"), golden_outputs(twin, torch_model, batches))]
    if keras_model is not None:
        paths.append(save_golden(layout.golden(twin.name, "keras"), keras_golden_outputs(twin, keras_model, batches)))
    return paths
