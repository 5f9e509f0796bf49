"""What both trainers share, in numpy: the batch order, the loss kind, the metrics, the epoch loop.

Each trainer supplies only a `step` (one optimiser update on the given rows, returning the batch
loss) and an `outputs` function (inference on numpy ids); everything that decides what the two
frameworks see (batches, validation metrics, early stopping, history rows) is here, once.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from twinbench.core.errors import ConfigError
from twinbench.models.registry import Twin
from twinbench.models.train.recipe import TrainRecipe

PROB_EPS = 1e-7  # probability clip for BCE on sigmoid outputs, identical on both sides
Progress = Callable[[str], None]
Step = Callable[[np.ndarray], float]  # row indices of one batch -> mean loss of that batch
Outputs = Callable[[np.ndarray], np.ndarray]  # token ids -> model outputs (float32), inference mode


def batch_plan(n: int, recipe: TrainRecipe, epoch: int) -> list[np.ndarray]:
    """The batches of one epoch, shared by both frameworks: one permutation from (seed, epoch)."""
    order = np.random.default_rng([recipe.seed, epoch]).permutation(n) if recipe.shuffle else np.arange(n)
    size = recipe.batch_size or n
    return [order[i:i + size] for i in range(0, n, size)]


def loss_kind(twin: Twin) -> str:
    """ce (logits), tag (per-token logits, pad ignored), bce-probs (sigmoid head), bce-logits (1 logit)."""
    if twin.task == "tag":
        return "tag"
    if twin.head == "sigmoid":
        return "bce-probs"
    return "bce-logits" if twin.num_outputs == 1 else "ce"


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def predictions(kind: str, out: np.ndarray) -> np.ndarray:
    if kind in ("ce", "tag"):
        return out.argmax(axis=-1)
    out = out.reshape(len(out))
    return (out > (0.5 if kind == "bce-probs" else 0.0)).astype(np.int64)


def metrics(kind: str, out: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(loss, accuracy, token accuracy or NaN) in float64, one function for both frameworks.
    For taggers accuracy is per non-pad token (both numbers)."""
    out = np.asarray(out, dtype=np.float64)
    pred = predictions(kind, out)
    if kind == "tag":
        mask = y != 0
        picked = np.take_along_axis(_log_softmax(out), y[..., None], axis=-1)[..., 0]
        loss = float(-(picked * mask).sum() / max(mask.sum(), 1))
        acc = float((pred == y)[mask].mean()) if mask.any() else float("nan")
        return loss, acc, acc
    if kind == "ce":
        loss = float(-np.take_along_axis(_log_softmax(out), y[:, None], axis=-1).mean())
    elif kind == "bce-probs":
        p = np.clip(out.reshape(len(out)), PROB_EPS, 1 - PROB_EPS)
        loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    else:
        z = out.reshape(len(out))
        loss = float((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean())
    return loss, float((pred == y).mean()), float("nan")


def epoch_row(framework: str, epoch: int, train_loss: float, m: tuple[float, float, float],
              seconds: float) -> dict[str, Any]:
    """One history row (bench.schema.TRAINING_COLUMNS less run_id, twin and mode)."""
    return {"framework": framework, "epoch": epoch, "train_loss": train_loss, "val_loss": m[0],
            "val_acc": m[1], "val_token_acc": m[2], "seconds": seconds}


def describe(row: dict[str, Any]) -> str:
    return (f"{row['framework']} epoch {row['epoch']}: train_loss {row['train_loss']:.4f} "
            f"val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.3f} ({row['seconds']:.2f}s)")


def should_stop(rows: list[dict[str, Any]], recipe: TrainRecipe) -> bool:
    """Stop when val_loss has not improved for `patience` epochs (each framework on its own)."""
    p = recipe.early_stopping_patience
    if p is None or len(rows) <= p:
        return False
    best = min(r["val_loss"] for r in rows[:-p])
    return all(r["val_loss"] >= best for r in rows[-p:])


def run_epochs(framework: str, kind: str, splits: Any, recipe: TrainRecipe, step: Step, outputs: Outputs,
               say: Progress) -> list[dict[str, Any]]:
    """The epoch loop both frameworks run: the shared batches through `step`, then validation
    metrics from `outputs`, one history row per epoch, early stopping per the recipe."""
    rows: list[dict[str, Any]] = []
    n = len(splits.x_train)
    start = time.perf_counter()
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        total = 0.0
        for idx in batch_plan(n, recipe, epoch):
            total += step(idx) * len(idx)
            if time.perf_counter() - start > recipe.max_s:  # checked per batch: an epoch may be long
                raise ConfigError(f"training: {framework} ran over [training] max_s = {recipe.max_s:g} s in epoch "
                                  f"{epoch} of {recipe.epochs}; raise max_s, or train fewer epochs or less data")
        seconds = time.perf_counter() - t0
        rows.append(epoch_row(framework, epoch, total / n, metrics(kind, outputs(splits.x_val), splits.y_val),
                              seconds))
        say(describe(rows[-1]))
        if should_stop(rows, recipe):
            break
    return rows
