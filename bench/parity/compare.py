"""Comparing one output with its golden: metrics, the profile's bounds, a verdict and why.

Pure NumPy on float64; no framework is imported, so reports and tables can judge outputs anywhere.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from twinbench.bench.parity.profiles import Profile, get_profile


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
