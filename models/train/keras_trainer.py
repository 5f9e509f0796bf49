"""The Keras side of training: a custom `tf.GradientTape` step inside a `tf.function`, not
`model.fit`, so the loss, clipping and weight decay are visibly the same formulas as torch's."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from twinbench.models.train.loop import PROB_EPS, Progress, run_epochs
from twinbench.models.train.recipe import TrainRecipe


def keras_optimizer(recipe: TrainRecipe) -> Any:
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


def keras_loss(kind: str, out: Any, y: Any) -> Any:
    """The batch loss of `loop.loss_kind` `kind`, written as `torch_trainer.torch_loss` is."""
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
    """Inference (training=False) on int64 ids, float32 numpy out, in chunks of `batch` rows."""
    import tensorflow as tf

    return np.concatenate([np.asarray(model(tf.constant(x[i:i + batch]), training=False), dtype=np.float32)
                           for i in range(0, len(x), batch)])


def keras_step(model: Any, kind: str, recipe: TrainRecipe) -> Callable[[Any, Any], Any]:
    """One compiled training step: dense gradients (torch's Embedding grads are dense too, so
    Adam's moments decay on every row in both), torch's clipping formula, torch's coupled L2."""
    import tensorflow as tf

    opt = keras_optimizer(recipe)
    variables = model.trainable_variables
    opt.build(variables)
    l2 = recipe.weight_decay if recipe.optimizer != "adamw" else 0.0

    @tf.function(reduce_retracing=True)
    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = keras_loss(kind, model(x, training=True), y)
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

    compiled = keras_step(model, kind, recipe)

    def step(idx: np.ndarray) -> float:
        return float(compiled(tf.constant(splits.x_train[idx]), tf.constant(splits.y_train[idx])))

    return run_epochs("keras", kind, splits, recipe, step, lambda x: keras_outputs(model, x), say)
