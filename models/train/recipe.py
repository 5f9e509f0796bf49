"""`TrainRecipe`: how both frameworks train (one frozen, validated dataclass; no frameworks here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from twinbench.core.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
MODES = ("synced", "independent", "ported")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class TrainRecipe:
    """How both frameworks train. `eps` is set on both (torch's default is 1e-8, Keras' 1e-7).
    `batch_size` None or 0 = full batch. `early_stopping` is an alias of `early_stopping_patience`.

    `mode`: "synced" (torch's initial weights copied into Keras, same batches: a controlled
    experiment), "independent" (each framework from its own initialisation), "ported" (train torch,
    port the weights into Keras)."""

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
    max_s: float = 3600.0  # seconds each framework may train; past it the run fails with one line

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, why: str) -> None:
            if not ok:
                raise ConfigError(f"{name}: {why}, got {getattr(self, name)!r}")

        need(_is_int(self.epochs) and self.epochs >= 1, "epochs", "must be a positive integer")
        need(self.batch_size is None or (_is_int(self.batch_size) and self.batch_size >= 0), "batch_size",
             "must be a non-negative integer (0 or None = full batch)")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        need(_is_num(self.lr) and self.lr > 0, "lr", "must be a positive number")
        need(_is_num(self.eps) and self.eps > 0, "eps", "must be a positive number")
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else ()
        need(len(betas) == 2 and all(_is_num(b) and 0 <= b < 1 for b in betas), "betas",
             "must be two numbers in [0, 1)")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        need(_is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(_is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(_is_num(self.rho) and 0 < self.rho < 1, "rho", "must be in (0, 1)")
        need(self.clip_norm is None or (_is_num(self.clip_norm) and self.clip_norm > 0), "clip_norm",
             "must be a positive number or None")
        need(self.mode in MODES, "mode", f"must be one of {', '.join(MODES)}")
        if self.early_stopping is not None:
            if self.early_stopping_patience not in (None, self.early_stopping):
                raise ConfigError("early_stopping: alias of early_stopping_patience; set only one")
            object.__setattr__(self, "early_stopping_patience", self.early_stopping)
        need(self.early_stopping_patience is None or (_is_int(self.early_stopping_patience)
                                                      and self.early_stopping_patience >= 1),
             "early_stopping_patience", "must be a positive integer or None")
        need(_is_int(self.seed) and self.seed >= 0, "seed", "must be a non-negative integer")
        need(isinstance(self.shuffle, bool), "shuffle", "must be true or false")
        need(_is_num(self.max_s) and 0 < self.max_s <= 7 * 24 * 3600, "max_s",
             "must be a number of seconds in (0, 604800]")
