"""The torch side of training: loss, optimiser, one update step, inference on numpy ids.

One real difference between the frameworks' Adam is handled here: Keras adds epsilon to the
*un-bias-corrected* sqrt(v), torch to the bias-corrected one. Keras' update equals torch's with
eps_t = eps / sqrt(1 - beta2^t), so the torch side gets that epsilon at every step (exact algebra,
not a tolerance). SGD (momentum sign convention aside), AdamW and Adadelta already agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twinbench.models.train.loop import PROB_EPS, Progress, run_epochs
from twinbench.models.train.recipe import TrainRecipe


def torch_loss(kind: str, out: Any, y: Any) -> Any:
    """The batch loss of `loop.loss_kind` `kind`, written as `keras_trainer.keras_loss` is."""
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


def torch_optimizer(recipe: TrainRecipe, params: list) -> Any:
    import torch

    r = recipe
    if r.optimizer == "adam":
        return torch.optim.Adam(params, lr=r.lr, betas=r.betas, eps=r.eps, weight_decay=r.weight_decay)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=r.lr, betas=r.betas, eps=r.eps, weight_decay=r.weight_decay)
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    return torch.optim.Adadelta(params, lr=r.lr, rho=r.rho, eps=r.eps, weight_decay=r.weight_decay)


def keras_adam_eps(recipe: TrainRecipe, step: int) -> float:
    """torch's epsilon at `step` (1-based) that gives Keras' Adam update (see the module doc)."""
    return recipe.eps / math.sqrt(1.0 - recipe.betas[1] ** step)


def torch_outputs(model: Any, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Inference (eval mode, no grad) on int64 ids, float32 numpy out, in chunks of `batch` rows."""
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).float().numpy()
                               for i in range(0, len(x), batch)])


def train_torch(model: Any, kind: str, splits: Any, recipe: TrainRecipe, say: Progress) -> list[dict]:
    """Train in torch; grad mode is forced on here since a runtime in the same process may have
    switched it off globally."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch_optimizer(recipe, params)
    adam = recipe.optimizer in ("adam", "adamw")
    steps = 0

    def step(idx: np.ndarray) -> float:
        nonlocal steps
        model.train()  # validation in between leaves the model in eval mode
        opt.zero_grad(set_to_none=True)
        loss = torch_loss(kind, model(torch.from_numpy(splits.x_train[idx])), torch.from_numpy(splits.y_train[idx]))
        loss.backward()
        if recipe.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, recipe.clip_norm)
        steps += 1
        if adam:
            for group in opt.param_groups:
                group["eps"] = keras_adam_eps(recipe, steps)
        opt.step()
        return float(loss.detach())

    with torch.enable_grad():
        return run_epochs("torch", kind, splits, recipe, step, lambda x: torch_outputs(model, x), say)
