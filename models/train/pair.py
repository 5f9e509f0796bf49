"""`train_twins`: train one twin in torch and in Keras as the recipe's mode says, and compare.

"synced" is a controlled experiment: torch's initial weights are copied into Keras (with torch's
two LSTM biases folded into one, as Keras has), both see one shared batch order, the same loss,
the same clipping and the same optimiser update, so their losses should agree epoch by epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinbench.core.errors import ConfigError
from twinbench.models.registry import Twin
from twinbench.models.train.keras_trainer import keras_outputs, train_keras
from twinbench.models.train.loop import Progress, epoch_row, loss_kind, metrics, predictions
from twinbench.models.train.recipe import TrainRecipe
from twinbench.models.train.torch_trainer import torch_outputs, train_torch
from twinbench.models.transfer import fold_lstm_biases
from twinbench.core.threads import set_tf_threads, set_torch_threads

HISTORY_COLUMNS = ["twin", "framework", "mode", "epoch", "train_loss", "val_loss", "val_acc", "val_token_acc",
                   "seconds"]


@dataclass
class TrainResult:
    torch_model: Any
    keras_model: Any
    history: Any  # pandas.DataFrame, bench.schema.TRAINING_COLUMNS minus run_id
    summary: dict = field(default_factory=dict)


def _build(twin: Twin, seed: int) -> tuple[Any, Any]:
    import keras
    import torch

    torch.manual_seed(seed)
    torch_model = twin.build_torch(twin.config)
    keras.utils.set_random_seed(seed)
    keras_model = twin.build_keras(twin.config)
    return torch_model, keras_model


def _has_dropout(twin: Twin) -> bool:
    cfg = twin.config_dict()
    return any("dropout" in k and isinstance(v, (int, float)) and v > 0 for k, v in cfg.items())


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(a) if a else abs(a - b)


def summarize(kind: str, torch_rows: list[dict], keras_rows: list[dict], torch_model: Any,
              keras_model: Any, splits: Any) -> dict:
    """Loss divergence per epoch, final accuracy gap, prediction agreement on val."""
    t_out, k_out = torch_outputs(torch_model, splits.x_val), keras_outputs(keras_model, splits.x_val)
    t_pred, k_pred = predictions(kind, t_out), predictions(kind, k_out)
    mask = splits.y_val != 0 if kind == "tag" else np.ones(len(t_pred), dtype=bool)
    paired = list(zip(torch_rows, keras_rows))
    out = {
        "train_loss_rel_diff": [_rel(t["train_loss"], k["train_loss"]) for t, k in paired],
        "val_loss_rel_diff": [_rel(t["val_loss"], k["val_loss"]) for t, k in paired],
        "final_val_acc": {"torch": torch_rows[-1]["val_acc"], "keras": keras_rows[-1]["val_acc"]},
        "prediction_agreement": float((t_pred == k_pred)[mask].mean()),
        "output_max_abs_diff": float(np.abs(t_out - k_out).max()),
    }
    out["acc_gap"] = abs(out["final_val_acc"]["torch"] - out["final_val_acc"]["keras"])
    out["max_train_loss_rel_diff"] = max(out["train_loss_rel_diff"], default=float("nan"))
    return out


def _ported(twin: Twin, kind: str, torch_model: Any, keras_model: Any, splits: Any, last_epoch: int) -> list[dict]:
    """Keras gets torch's trained weights: one row with its validation metrics."""
    t0 = time.perf_counter()
    twin.torch_to_keras(torch_model, keras_model)
    m = metrics(kind, keras_outputs(keras_model, splits.x_val), splits.y_val)
    return [epoch_row("keras", last_epoch, float("nan"), m, time.perf_counter() - t0)]


def train_twins(twin: Twin, splits: Any, recipe: TrainRecipe, *, progress: Progress | None = None,
                threads: int | None = None) -> TrainResult:
    """Train `twin` in torch and Keras per `recipe.mode`; history has one row per framework x epoch."""
    import pandas as pd

    say = progress or (lambda _msg: None)
    if splits.task != twin.task:
        raise ConfigError(f"twin {twin.name!r} is a {twin.task!r} twin but the data is for {splits.task!r}")
    if threads:
        set_torch_threads(threads)
        set_tf_threads(threads)
    kind = loss_kind(twin)
    torch_model, keras_model = _build(twin, recipe.seed)
    summary: dict[str, Any] = {"mode": recipe.mode, "loss": kind, "optimizer": recipe.optimizer}
    if recipe.mode == "synced":
        summary["folded_lstm_biases"] = fold_lstm_biases(torch_model)
        twin.torch_to_keras(torch_model, keras_model)
        diff = np.abs(torch_outputs(torch_model, splits.x_val) - keras_outputs(keras_model, splits.x_val))
        summary["init_output_max_abs_diff"] = float(diff.max())
    torch_rows = train_torch(torch_model, kind, splits, recipe, say)
    if recipe.mode == "ported":
        keras_rows = _ported(twin, kind, torch_model, keras_model, splits, torch_rows[-1]["epoch"])
    else:
        keras_rows = train_keras(keras_model, kind, splits, recipe, say)
    summary.update(summarize(kind, torch_rows, keras_rows, torch_model, keras_model, splits))
    summary["seconds"] = {"torch": sum(r["seconds"] for r in torch_rows),
                          "keras": sum(r["seconds"] for r in keras_rows)}
    if recipe.mode == "ported":
        summary.pop("train_loss_rel_diff")
        summary.pop("max_train_loss_rel_diff")
    if _has_dropout(twin) and recipe.mode != "ported":
        summary["note"] = ("dropout is active in training and the frameworks draw different masks: "
                           "losses are not expected to match bit for bit")
    history = pd.DataFrame([{"twin": twin.name, "mode": recipe.mode, **r} for r in torch_rows + keras_rows])
    return TrainResult(torch_model, keras_model, history[HISTORY_COLUMNS], summary)
