"""Numerical parity: named eval batches, the float64 golden reference, and the comparison.

Every artifact x runtime is compared with ONE reference of the same weights: the torch model run in
float64 on CPU. Tolerances come from a named profile (bench/profiles.py) chosen per cell from the
arithmetic the cell really did. Tables over a run directory live in bench/parity_table.py.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from twinbench.bench.profiles import PROFILES, Profile, choose_profile, explain_profile, get_profile
from twinbench.errors import DataError, RunDirError

if TYPE_CHECKING:
    import torch

    from twinbench.models.registry import Twin

__all__ = ["PROFILES", "Profile", "choose_profile", "explain_profile", "get_profile", "parity_inputs",
           "save_parity_inputs", "load_batches", "golden_outputs", "keras_golden_outputs", "golden_path",
           "save_golden", "save_goldens", "compare",
           "compare_batches", "worst_batch",
           "overall_verdict", "parity_table", "run_parity_only", "localize"]

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
    """The longest input a twin accepts (a transformer's position table), None if unbounded."""
    value = getattr(twin, "max_length", None)
    config = getattr(twin, "config", None)
    for field in ("max_len", "max_positions"):
        if value is None and config is not None and getattr(config, field, None):
            value = getattr(config, field)
    return int(value) if value else None


def save_parity_inputs(path: str | Path, batches: Mapping[str, np.ndarray]) -> Path:
    """Write the named batches as one .npz (int64), atomically."""
    return _save_npz(path, {k: np.asarray(v, dtype=np.int64) for k, v in batches.items()})


def save_golden(path: str | Path, golden: Mapping[str, np.ndarray]) -> Path:
    """Write golden outputs as one .npz (float64), atomically."""
    return _save_npz(path, {k: np.asarray(v, dtype=np.float64) for k, v in golden.items()})


def _save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **dict(arrays))
    tmp.replace(path)
    return path


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
    torch_model = twin.build_torch(twin.config)
    twin.keras_to_torch(keras_model, torch_model)
    return golden_outputs(twin, torch_model.eval(), batches)


def golden_path(twin_dir: str | Path, source: str = "torch") -> Path:
    """`golden.npz` (torch weights) or `golden.keras.npz` (Keras weights) in a twin's artifacts."""
    return Path(twin_dir) / ("golden.keras.npz" if source == "keras" else "golden.npz")


def save_goldens(twin: "Twin", torch_model: Any, keras_model: Any, batches: Mapping[str, np.ndarray],
                 twin_dir: str | Path) -> list[Path]:
    """Write the golden of each framework's weights (Keras only when a Keras model is given)."""
    paths = [save_golden(golden_path(twin_dir, "torch"), golden_outputs(twin, torch_model, batches))]
    if keras_model is not None:
        paths.append(save_golden(golden_path(twin_dir, "keras"), keras_golden_outputs(twin, keras_model, batches)))
    return paths


def _tolerance_rows(g: np.ndarray, p: Profile) -> np.ndarray:
    return p.atol + p.rtol * np.abs(g)


def _argmax_agreement(g: np.ndarray, a: np.ndarray, p: Profile) -> tuple[float, int]:
    """Fraction of rows (tokens for tag outputs) whose argmax agrees, counting a disagreement as
    agreement when the golden logits of the two classes are within the profile's tolerance (a tie
    at this precision). A single logit (sigmoid head) is judged by its sign. Returns (fraction, rows)."""
    if g.ndim == 0:
        return 1.0, 1
    g2 = g.reshape(-1, g.shape[-1])
    a2 = a.reshape(-1, a.shape[-1])
    if g2.shape[1] == 1:
        ok = ((g2[:, 0] > 0) == (a2[:, 0] > 0)) | (np.abs(g2[:, 0]) <= p.atol + p.rtol * np.abs(g2[:, 0]))
        return (float(ok.mean()) if ok.size else 1.0), int(ok.size)
    ig, ia = g2.argmax(axis=1), a2.argmax(axis=1)
    rows = np.arange(g2.shape[0])
    margin = g2[rows, ig] - g2[rows, ia]
    tol = 2 * (p.atol + p.rtol * np.maximum(np.abs(g2[rows, ig]), np.abs(g2[rows, ia])))
    ok = (ig == ia) | (margin <= tol)
    return (float(ok.mean()) if ok.size else 1.0), int(ok.size)


def compare(golden: np.ndarray, actual: np.ndarray, profile: str | Profile, *, topk: int = 0) -> dict[str, Any]:
    """Metrics and verdict for one output. NaN/Inf or a shape mismatch is a FAIL with a reason.

    `worst_index` is the sample (index on axis 0) holding the largest violation of the bound."""
    p = get_profile(profile)
    g = np.asarray(golden, dtype=np.float64)
    a = np.asarray(actual)
    res: dict[str, Any] = {"profile": p.name, "n": int(g.shape[0]) if g.ndim else 1, "atol": p.atol,
                           "rtol": p.rtol, "max_abs": math.nan, "max_rel": math.nan, "mean_abs": math.nan,
                           "rmse": math.nan, "cosine": math.nan, "argmax_agree": math.nan,
                           "worst_index": -1, "verdict": "FAIL", "error": ""}
    if a.shape != g.shape:
        res["error"] = f"shape mismatch: golden {g.shape}, actual {a.shape}"
        return res
    if not np.issubdtype(a.dtype, np.number):
        res["error"] = f"non-numeric output dtype {a.dtype}"
        return res
    a = a.astype(np.float64)
    if not np.all(np.isfinite(g)):
        res["error"] = "golden has NaN/Inf"
        return res
    bad = ~np.isfinite(a)
    if bad.any():
        first = int(np.argwhere(bad)[0][0]) if a.ndim else 0
        res["worst_index"] = first
        res["error"] = f"{int(bad.sum())} NaN/Inf values (first in sample {first})"
        return res
    if g.size == 0:
        res.update(max_abs=0.0, max_rel=0.0, mean_abs=0.0, rmse=0.0, cosine=1.0, argmax_agree=1.0,
                   verdict="PASS")
        return res
    diff = np.abs(a - g)
    excess = diff - _tolerance_rows(g, p)
    res["max_abs"] = float(diff.max())
    res["max_rel"] = float((diff / np.maximum(np.abs(g), p.rel_floor)).max())
    res["mean_abs"] = float(diff.mean())
    res["rmse"] = float(np.sqrt(np.mean(diff**2)))
    ng, na = float(np.linalg.norm(g)), float(np.linalg.norm(a))
    res["cosine"] = float(np.dot(g.ravel(), a.ravel()) / (ng * na)) if ng > 0 and na > 0 else (
        1.0 if ng == na else 0.0)
    res["argmax_agree"], _ = _argmax_agreement(g, a, p)
    flat = int(np.argmax(excess))
    res["worst_index"] = int(np.unravel_index(flat, g.shape)[0]) if g.ndim else 0
    if topk and g.ndim and g.shape[-1] > topk:
        tg = np.argsort(-g.reshape(-1, g.shape[-1]), axis=1)[:, :topk]
        ta = np.argsort(-a.reshape(-1, a.shape[-1]), axis=1)[:, :topk]
        res[f"top{topk}_agree"] = float(np.mean([set(x) == set(y) for x, y in zip(tg, ta)]))
    reasons = []
    if float(excess.max()) > 0:
        reasons.append(f"max abs {res['max_abs']:.3g} exceeds atol {p.atol:g} + rtol {p.rtol:g}*|golden| "
                       f"(sample {res['worst_index']})")
    # cosine is scale-free: for outputs as small as the absolute noise floor it would judge noise,
    # so it applies only when the error is above that floor (RMSE > atol)
    if res["cosine"] < p.min_cosine and res["rmse"] > p.atol:
        reasons.append(f"cosine {res['cosine']:.9f} < {p.min_cosine}")
    if res["argmax_agree"] < p.min_argmax_agree:
        reasons.append(f"argmax agreement {res['argmax_agree']:.4f} < {p.min_argmax_agree}")
    res["verdict"] = "FAIL" if reasons else "PASS"
    res["error"] = "; ".join(reasons)
    return res


def compare_batches(golden: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray],
                    profile: str | Profile) -> dict[str, dict[str, Any]]:
    """`compare` for every named batch of the golden; a batch missing from `actual` is a FAIL."""
    out = {}
    for name, g in golden.items():
        if name not in actual:
            res = compare(g, np.empty((0,)), profile)
            res["error"] = f"no output for batch {name!r}"
            out[name] = res
        else:
            out[name] = compare(g, actual[name], profile)
    return out


def worst_batch(results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The failing batch with the largest max abs error (NaN/shape failures first); None if all pass."""
    failing = [(n, r) for n, r in results.items() if r["verdict"] != "PASS"]
    if not failing:
        return None
    return max(failing, key=lambda nr: math.inf if math.isnan(nr[1]["max_abs"]) else nr[1]["max_abs"])[0]


def overall_verdict(df: Any) -> str:
    """PASS unless any row is FAIL or ERROR (SKIP rows do not count)."""
    if df is None or len(df) == 0:
        return "PASS"
    verdicts = set(df["verdict"].astype(str))
    return "FAIL" if verdicts & {"FAIL", "ERROR"} else "PASS"


def parity_table(run_dir: str | Path, **kwargs: Any) -> Any:
    """Every cell's outputs vs the golden (see bench/parity_table.py)."""
    from twinbench.bench.parity_table import parity_table as _impl

    return _impl(run_dir, **kwargs)


def run_parity_only(run_dir: str | Path, **kwargs: Any) -> Any:
    """Parity alone, without timing (see bench/parity_run.py)."""
    from twinbench.bench.parity_run import run_parity_only as _impl

    return _impl(run_dir, **kwargs)


def localize(*args: Any, **kwargs: Any) -> tuple[str, float]:
    """The first layer whose output diverges (see bench/localize.py)."""
    from twinbench.bench.localize import localize as _impl

    return _impl(*args, **kwargs)
