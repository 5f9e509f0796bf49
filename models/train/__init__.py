"""Train a twin in both frameworks on the same batches, with the same loss and the same optimiser.

`recipe` (TrainRecipe), `loop` (batches, metrics and the epoch loop both frameworks share),
`torch_trainer` and `keras_trainer` (one framework each) and `pair` (`train_twins`: both, per the
recipe's mode). Frameworks are imported inside functions, so importing this package is cheap.
"""

from __future__ import annotations

from twinbench.models.train.keras_trainer import keras_outputs
from twinbench.models.train.loop import batch_plan, loss_kind, metrics, predictions
from twinbench.models.train.pair import TrainResult, summarize, train_twins
from twinbench.models.train.recipe import MODES, OPTIMIZERS, TrainRecipe
from twinbench.models.train.torch_trainer import torch_outputs

__all__ = ["MODES", "OPTIMIZERS", "TrainRecipe", "TrainResult", "batch_plan", "keras_outputs", "loss_kind",
           "metrics", "predictions", "summarize", "torch_outputs", "train_twins"]
