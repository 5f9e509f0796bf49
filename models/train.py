"""Train a twin in both frameworks on the same batches, with the same loss and the same optimiser.

`synced` mode is a controlled experiment: torch's initial weights are copied into Keras, both see one
shared batch order (a numpy permutation per epoch from the seed), the loss is computed the same way,
clipping is the same formula, and the optimisers use the same update rule. Keras is trained with a
custom `tf.GradientTape` loop inside a `tf.function`, not `model.fit`, so nothing is hidden.

One real difference between the frameworks' Adam is handled here: Keras adds epsilon to the
*un-bias-corrected* sqrt(v), torch to the bias-corrected one. Keras' update equals torch's with
eps_t = eps / sqrt(1 - beta2^t), so the torch side gets that epsilon at every step (exact algebra,
not a tolerance). SGD (momentum sign convention aside), AdamW and Adadelta already agree.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from twinbench.errors import ConfigError
from twinbench.models.registry import Twin

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
MODES = ("synced", "independent", "ported")
PROB_EPS = 1e-7  # probability clip for BCE on sigmoid outputs, identical on both sides
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainRecipe:
    """How both frameworks train. `eps` is set on both (torch's default is 1e-8, Keras' 1e-7).
    `batch_size` None or 0 = full batch. `early_stopping` is an alias of `early_stopping_patience`."""

    epochs: int = 10
    batch_size: int | None = 32
    optimizer: str = "adam"
    lr: float = 3e-3
    eps: float = 1e-7
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    momentum: float = 0.0
    rho: float = 0.9
    clip_norm: float | None = None
    mode: str = "synced"
    early_stopping_patience: int | None = None
    seed: int = 1337
    shuffle: bool = True
    early_stopping: int | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, why: str) -> None:
            if not ok:
                raise ConfigError(f"{name}: {why}, got {getattr(self, name)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        need(is_int(self.epochs) and self.epochs >= 1, "epochs", "must be a positive integer")
        need(self.batch_size is None or (is_int(self.batch_size) and self.batch_size >= 0), "batch_size",
             "must be a non-negative integer (0 or None = full batch)")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        need(is_num(self.lr) and self.lr > 0, "lr", "must be a positive number")
        need(is_num(self.eps) and self.eps > 0, "eps", "must be a positive number")
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else ()
        need(len(betas) == 2 and all(is_num(b) and 0 <= b < 1 for b in betas), "betas",
             "must be two numbers in [0, 1)")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(is_num(self.rho) and 0 < self.rho < 1, "rho", "must be in (0, 1)")
        need(self.clip_norm is None or (is_num(self.clip_norm) and self.clip_norm > 0), "clip_norm",
             "must be a positive number or None")
        need(self.mode in MODES, "mode", f"must be one of {', '.join(MODES)}")
        if self.early_stopping is not None:
            if self.early_stopping_patience not in (None, self.early_stopping):
                raise ConfigError("early_stopping: alias of early_stopping_patience; set only one")
            object.__setattr__(self, "early_stopping_patience", self.early_stopping)
        need(self.early_stopping_patience is None or (is_int(self.early_stopping_patience)
                                                      and self.early_stopping_patience >= 1),
             "early_stopping_patience", "must be a positive integer or None")
        need(is_int(self.seed) and self.seed >= 0, "seed", "must be a non-negative integer")
        need(isinstance(self.shuffle, bool), "shuffle", "must be true or false")


@dataclass
class TrainResult:
    torch_model: Any
    keras_model: Any
    history: Any  # pandas.DataFrame, bench.schema.TRAINING_COLUMNS minus run_id
    summary: dict = field(default_factory=dict)


# -- shared pieces: batches, loss kind, metrics (numpy, identical for both frameworks) -------------


def batch_plan(n: int, recipe: TrainRecipe, epoch: int) -> list[np.ndarray]:
    """The batches of one epoch, shared by both frameworks: one permutation from (seed, epoch)."""
    order = np.random.default_rng([recipe.seed, epoch]).permutation(n) if recipe.shuffle else np.arange(n)
    size = recipe.batch_size or n
    return [order[i:i + size] for i in range(0, n, size)]


def loss_kind(twin: Twin) -> str:
    """ce (logits), tag (per-token logits, pad ignored), bce-probs (sigmoid head), bce-logits (1 logit)."""
    if twin.task == "tag":
        return "tag"
    if getattr(twin.config, "head", None) == "sigmoid":
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


# -- torch -----------------------------------------------------------------------------------------


def _torch_loss(kind: str, out: Any, y: Any) -> Any:
    import torch.nn.functional as F

    if kind == "ce":
        return F.cross_entropy(out, y)
    if kind == "tag":
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), ignore_index=0)
    yf = y.to(out.dtype)
    if kind == "bce-probs":
        p = out.reshape(-1).clamp(PROB_EPS, 1 - PROB_EPS)
        return -(yf * p.log() + (1 - yf) * (1 - p).log()).mean()
    return F.binary_cross_entropy_with_logits(out.reshape(-1), yf)


def _torch_optimizer(recipe: TrainRecipe, params: list) -> Any:
    import torch

    r = recipe
    if r.optimizer == "adam":
        return torch.optim.Adam(params, lr=r.lr, betas=r.betas, eps=r.eps, weight_decay=r.weight_decay)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=r.lr, betas=r.betas, eps=r.eps, weight_decay=r.weight_decay)
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    return torch.optim.Adadelta(params, lr=r.lr, rho=r.rho, eps=r.eps, weight_decay=r.weight_decay)


def torch_outputs(model: Any, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).float().numpy()
                               for i in range(0, len(x), batch)])


def train_torch(model: Any, kind: str, splits: Any, recipe: TrainRecipe, say: Progress) -> list[dict]:
    """Train in torch; grad mode is forced on here since a runtime in the same process may have
    switched it off globally."""
    import torch

    with torch.enable_grad():
        return _train_torch(model, kind, splits, recipe, say)


def _train_torch(model: Any, kind: str, splits: Any, recipe: TrainRecipe, say: Progress) -> list[dict]:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = _torch_optimizer(recipe, params)
    x, y = splits.x_train, splits.y_train
    rows, step = [], 0
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for idx in batch_plan(len(x), recipe, epoch):
            xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
            opt.zero_grad(set_to_none=True)
            loss = _torch_loss(kind, model(xb), yb)
            loss.backward()
            if recipe.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, recipe.clip_norm)
            step += 1
            if recipe.optimizer in ("adam", "adamw"):  # Keras' epsilon placement, see module doc
                for group in opt.param_groups:
                    group["eps"] = recipe.eps / math.sqrt(1.0 - recipe.betas[1] ** step)
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        seconds = time.perf_counter() - t0
        rows.append(_epoch_row("torch", epoch, total / count, metrics(kind, torch_outputs(model, splits.x_val),
                                                                   splits.y_val), seconds))
        say(_describe(rows[-1]))
        if _should_stop(rows, recipe):
            break
    return rows


# -- keras -----------------------------------------------------------------------------------------


def _keras_optimizer(recipe: TrainRecipe) -> Any:
    import keras

    r = recipe
    b1, b2 = r.betas
    if r.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=r.lr, beta_1=b1, beta_2=b2, epsilon=r.eps)
    if r.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=r.lr, weight_decay=r.weight_decay, beta_1=b1, beta_2=b2,
                                      epsilon=r.eps)
    if r.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=r.lr, momentum=r.momentum)
    return keras.optimizers.Adadelta(learning_rate=r.lr, rho=r.rho, epsilon=r.eps)


def _keras_loss(kind: str, out: Any, y: Any) -> Any:
    import tensorflow as tf

    if kind == "ce":
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
    if kind == "tag":
        per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out)
        mask = tf.cast(tf.not_equal(y, 0), per.dtype)
        return tf.reduce_sum(per * mask) / tf.reduce_sum(mask)
    yf = tf.cast(y, out.dtype)
    z = tf.reshape(out, [-1])
    if kind == "bce-probs":
        p = tf.clip_by_value(z, PROB_EPS, 1 - PROB_EPS)
        return -tf.reduce_mean(yf * tf.math.log(p) + (1 - yf) * tf.math.log(1 - p))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yf, logits=z))


def keras_outputs(model: Any, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    import tensorflow as tf

    return np.concatenate([np.asarray(model(tf.constant(x[i:i + batch]), training=False), dtype=np.float32)
                           for i in range(0, len(x), batch)])


def _keras_step(model: Any, kind: str, recipe: TrainRecipe) -> Callable[[Any, Any], Any]:
    """One compiled training step: dense gradients (torch's Embedding grads are dense too, so
    Adam's moments decay on every row in both), torch's clipping formula, torch's coupled L2."""
    import tensorflow as tf

    opt = _keras_optimizer(recipe)
    variables = model.trainable_variables
    opt.build(variables)
    l2 = recipe.weight_decay if recipe.optimizer != "adamw" else 0.0

    @tf.function(reduce_retracing=True)
    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = _keras_loss(kind, model(x, training=True), y)
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        if recipe.clip_norm is not None:  # torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6)
            coef = tf.minimum(1.0, recipe.clip_norm / (tf.linalg.global_norm(grads) + 1e-6))
            grads = [g * coef for g in grads]
        if l2:
            grads = [g + l2 * v for g, v in zip(grads, variables)]
        opt.apply_gradients(zip(grads, variables))
        return loss

    return step


def train_keras(model: Any, kind: str, splits: Any, recipe: TrainRecipe, say: Progress) -> list[dict]:
    import tensorflow as tf

    step = _keras_step(model, kind, recipe)
    x, y = splits.x_train, splits.y_train
    rows = []
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        total, count = 0.0, 0
        for idx in batch_plan(len(x), recipe, epoch):
            loss = step(tf.constant(x[idx]), tf.constant(y[idx]))
            total += float(loss) * len(idx)
            count += len(idx)
        seconds = time.perf_counter() - t0
        rows.append(_epoch_row("keras", epoch, total / count, metrics(kind, keras_outputs(model, splits.x_val),
                                                                   splits.y_val), seconds))
        say(_describe(rows[-1]))
        if _should_stop(rows, recipe):
            break
    return rows


# -- orchestration ---------------------------------------------------------------------------------


def _epoch_row(framework: str, epoch: int, train_loss: float, m: tuple[float, float, float],
               seconds: float) -> dict:
    return {"framework": framework, "epoch": epoch, "train_loss": train_loss, "val_loss": m[0],
            "val_acc": m[1], "val_token_acc": m[2], "seconds": seconds}


def _describe(row: dict) -> str:
    return (f"{row['framework']} epoch {row['epoch']}: train_loss {row['train_loss']:.4f} "
            f"val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.3f} ({row['seconds']:.2f}s)")


def _should_stop(rows: list[dict], recipe: TrainRecipe) -> bool:
    """Stop when val_loss has not improved for `patience` epochs (each framework on its own)."""
    p = recipe.early_stopping_patience
    if p is None or len(rows) <= p:
        return False
    best = min(r["val_loss"] for r in rows[:-p])
    return all(r["val_loss"] >= best for r in rows[-p:])


def set_threads(threads: int) -> None:
    """Pin both frameworks' intra-op pools (TF accepts this only before its first op)."""
    import tensorflow as tf
    import torch

    torch.set_num_threads(threads)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised: keep its pools
        pass


def _build(twin: Twin, seed: int) -> tuple[Any, Any]:
    import keras
    import torch

    torch.manual_seed(seed)
    torch_model = twin.build_torch(twin.config)
    keras.utils.set_random_seed(seed)
    keras_model = twin.build_keras(twin.config)
    return torch_model, keras_model


def fold_lstm_biases(torch_model: Any) -> int:
    """Put each torch LSTM/RNN `bias_hh` into `bias_ih` and freeze it at zero; returns how many.

    Keras keeps ONE bias per LSTM where torch trains two whose sum is the same function: both get
    the same gradient, so under SGD or Adam their sum moves twice as far per step as Keras' bias
    (measured: 1e-2 relative weight difference after the first step). Folding keeps the function
    and makes the two parametrisations train identically. GRU is untouched: both sides keep two."""
    import torch

    folded = 0
    for module in torch_model.modules():
        if isinstance(module, (torch.nn.LSTM, torch.nn.RNN)) and module.bias:
            for name, param in module.named_parameters():
                if name.startswith("bias_hh"):
                    ih = getattr(module, name.replace("bias_hh", "bias_ih"))
                    with torch.no_grad():
                        ih.add_(param)
                        param.zero_()
                    param.requires_grad_(False)
                    folded += 1
    return folded


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


def train_twins(twin: Twin, splits: Any, recipe: TrainRecipe, *, progress: Progress | None = None,
                threads: int | None = None) -> TrainResult:
    """Train `twin` in torch and Keras per `recipe.mode`; history has one row per framework x epoch."""
    import pandas as pd

    say = progress or (lambda _msg: None)
    if splits.task != twin.task:
        raise ConfigError(f"twin {twin.name!r} is a {twin.task!r} twin but the data is for {splits.task!r}")
    if threads:
        set_threads(threads)
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
        t0 = time.perf_counter()
        twin.torch_to_keras(torch_model, keras_model)
        m = metrics(kind, keras_outputs(keras_model, splits.x_val), splits.y_val)
        keras_rows = [_epoch_row("keras", torch_rows[-1]["epoch"], float("nan"), m, time.perf_counter() - t0)]
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
    cols = ["twin", "framework", "mode", "epoch", "train_loss", "val_loss", "val_acc", "val_token_acc", "seconds"]
    return TrainResult(torch_model, keras_model, history[cols], summary)
