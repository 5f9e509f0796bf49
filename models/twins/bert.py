"""`bert`: a library twin. The model is not written here: the torch side is Hugging Face
`transformers`' `BertForSequenceClassification`, the Keras side KerasHub's `BertBackbone` with the
head KerasHub's `BertTextClassifier` puts on it (Dropout + Dense "logits" on the pooled output). Both
are created from one small config with each library's own random initialisation; nothing is
downloaded.

The two libraries' BERTs are not the same function out of the box. Each difference is stated and
aligned here (docs/twins.md, "Library twin: bert"):

- GELU: KerasHub's BERT always uses the tanh approximation; `transformers`' "gelu" is the exact erf
  form (they differ by up to ~1e-3 per activation). The torch side is configured with "gelu_new",
  `transformers`' name for the tanh form.
- Layer-norm epsilon: KerasHub fixes 1e-12; `transformers` reads `layer_norm_eps`, set to 1e-12.
- Attention mask: both sides form it from the token ids alike: a token attends to every position
  that is not padding (id 0), and always to position 0 (where BERT's [CLS] would be). So no query
  row is ever fully masked, and `transformers`' additive dtype-minimum mask and Keras' boolean mask
  (scores replaced by -1e9) both give exactly zero weight to the same positions.
- Attention implementation: `transformers` is pinned to "eager" (matmul, softmax, matmul), not the
  SDPA kernel it may pick by default, so float64 goldens and both exporters see plain ops.
- Position and token-type embeddings: positions 0..S-1 on both sides; token types all zero (the
  type table keeps BERT's two rows; row 1 is never read).
- Padding row: `transformers` would give the word embedding `padding_idx=0` (pad row frozen at zero);
  KerasHub trains that row. `pad_token_id=None` here, so both sides train every row.
- Pooler and head: BERT's pooler (Dense + tanh on position 0) on both sides, then dropout and one
  Dense. `dropout` (default 0, so synced training can be compared step by step) sets every dropout
  of both models: hidden, attention probabilities and classifier.

Weights move by a table (torch parameter name <-> Keras variable path, layout), checked to cover every
parameter of both models, so nothing is silently left behind.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np

from twinbench.models import transfer as tr
from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
from twinbench.models.twins import _common as c
from twinbench.models.twins import _strategies
from twinbench.models.vocab import PAD

#: module -> distribution, for the unavailability reason.
REQUIRES = {"transformers": "transformers", "keras_hub": "keras-hub"}
INSTALL_HINT = "pip install 'twinbench[hf]' && pip install --no-deps 'keras-hub>=0.32,<0.33' (docs/twins.md says why --no-deps)"

#: Both libraries' BERT layer-norm epsilon (KerasHub's is fixed; transformers' is set to it).
LAYER_NORM_EPS = 1e-12
#: `transformers`' name for the tanh-approximated GELU that KerasHub's BERT always uses.
HF_ACTIVATION = "gelu_new"
#: BERT's token-type (segment) table has two rows; every token here has type 0.
TYPE_VOCAB = 2
BACKBONE = "backbone"
INIT_STDDEV = 0.02  # BERT's initializer range: transformers' default, KerasHub's truncated normal


def missing() -> str | None:
    """None when both libraries are installed, else which are missing and how to install them.
    Looks them up without importing them (importing keras_hub imports TensorFlow)."""
    absent = [dist for module, dist in REQUIRES.items() if importlib.util.find_spec(module) is None]
    if not absent:
        return None
    return f"needs {' and '.join(absent)}, not installed: {INSTALL_HINT}"


@dataclass(frozen=True)
class BertTwinConfig:
    vocab_size: int = c.DEFAULT_VOCAB
    hidden: int = 32
    num_layers: int = 2
    num_heads: int = 2
    intermediate: int = 64
    max_len: int = 128     # the position table: the longest input accepted (`Twin.max_seq_len`)
    dropout: float = 0.0   # every dropout of both models (training only)
    num_classes: int = 2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden", "num_layers", "num_heads", "intermediate", "max_len", "num_classes"):
            c.check_positive(name, getattr(self, name))
        c.check_heads("hidden", self.hidden, self.num_heads)  # KerasHub's BERT: the same MultiHeadAttention
        c.check_fraction("dropout", self.dropout)


def hf_config(cfg: BertTwinConfig, hidden_act: str = HF_ACTIVATION) -> Any:
    """The `transformers.BertConfig` of this twin (`hidden_act` is a parameter only so tests can show
    what the erf GELU would change)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate, hidden_act=hidden_act,
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout, classifier_dropout=cfg.dropout,
        max_position_embeddings=cfg.max_len, type_vocab_size=TYPE_VOCAB, layer_norm_eps=LAYER_NORM_EPS,
        initializer_range=INIT_STDDEV, pad_token_id=None, num_labels=cfg.num_classes,
        attn_implementation="eager",
    )


def build_torch(cfg: BertTwinConfig, hidden_act: str = HF_ACTIVATION) -> Any:
    import torch
    from transformers import BertForSequenceClassification

    class HFBertClassifier(torch.nn.Module):
        """Token ids in, logits out: the mask and token types are formed from the ids here."""

        def __init__(self) -> None:
            super().__init__()
            self.model = BertForSequenceClassification(hf_config(cfg, hidden_act))

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            first = torch.arange(tokens.shape[1], device=tokens.device) == 0
            attend = ((tokens != PAD) | first).to(torch.int64)
            return self.model(input_ids=tokens, attention_mask=attend, token_type_ids=torch.zeros_like(tokens)).logits

    return HFBertClassifier()


def build_keras(cfg: BertTwinConfig) -> Any:
    import keras
    import keras_hub
    from keras import layers, ops

    tokens = c.keras_tokens()
    positions = ops.cumsum(ops.ones_like(tokens), axis=1) - 1  # 0..S-1 for a dynamic S
    attend = ops.logical_or(ops.not_equal(tokens, PAD), ops.equal(positions, 0))
    ids = ops.cast(tokens, "int32")  # KerasHub's inputs are int32
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=cfg.vocab_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads, hidden_dim=cfg.hidden,
        intermediate_dim=cfg.intermediate, dropout=cfg.dropout, max_sequence_length=cfg.max_len,
        num_segments=TYPE_VOCAB, name=BACKBONE)
    pooled = backbone({"token_ids": ids, "segment_ids": ops.zeros_like(ids),
                       "padding_mask": ops.cast(attend, "int32")})["pooled_output"]
    # BertTextClassifier's head, on our own single int64 input (the Task class takes the three int32 inputs)
    pooled = layers.Dropout(cfg.dropout, name="classifier_dropout")(pooled)
    out = layers.Dense(cfg.num_classes, kernel_initializer=keras.initializers.TruncatedNormal(stddev=INIT_STDDEV),
                       name=OUTPUT_NAME)(pooled)
    return keras.Model(tokens, out, name="bert")


# -- weight transfer: one table, both directions ---------------------------------------------------

# layouts: "same"; "dense" ([out, in] <-> [in, out]); "qkv" ([H, H] -> [H, heads, d]); "qkv_bias"
# ([H] -> [heads, d]); "attn_out" ([H, H] -> [heads, d, H]).


def weight_table(num_layers: int) -> list[tuple[str, str, str]]:
    """(torch parameter name, Keras variable path, layout) for every weight of a twin of `num_layers`."""
    t, dense = "model.bert.", "dense"
    rows = [(t + "embeddings.word_embeddings.weight", "token_embedding/embeddings", "same"),
            (t + "embeddings.position_embeddings.weight", "position_embedding/embeddings", "same"),
            (t + "embeddings.token_type_embeddings.weight", "segment_embedding/embeddings", "same"),
            (t + "embeddings.LayerNorm.weight", "embeddings_layer_norm/gamma", "same"),
            (t + "embeddings.LayerNorm.bias", "embeddings_layer_norm/beta", "same")]
    for i in range(num_layers):
        hf, k = f"{t}encoder.layer.{i}.", f"transformer_layer_{i}/"
        for name in ("query", "key", "value"):
            rows += [(f"{hf}attention.self.{name}.weight", f"{k}self_attention_layer/{name}/kernel", "qkv"),
                     (f"{hf}attention.self.{name}.bias", f"{k}self_attention_layer/{name}/bias", "qkv_bias")]
        rows += [(f"{hf}attention.output.dense.weight", f"{k}self_attention_layer/attention_output/kernel", "attn_out"),
                 (f"{hf}attention.output.dense.bias", f"{k}self_attention_layer/attention_output/bias", "same"),
                 (f"{hf}attention.output.LayerNorm.weight", f"{k}self_attention_layer_norm/gamma", "same"),
                 (f"{hf}attention.output.LayerNorm.bias", f"{k}self_attention_layer_norm/beta", "same"),
                 (f"{hf}intermediate.dense.weight", f"{k}feedforward_intermediate_dense/kernel", dense),
                 (f"{hf}intermediate.dense.bias", f"{k}feedforward_intermediate_dense/bias", "same"),
                 (f"{hf}output.dense.weight", f"{k}feedforward_output_dense/kernel", dense),
                 (f"{hf}output.dense.bias", f"{k}feedforward_output_dense/bias", "same"),
                 (f"{hf}output.LayerNorm.weight", f"{k}feedforward_layer_norm/gamma", "same"),
                 (f"{hf}output.LayerNorm.bias", f"{k}feedforward_layer_norm/beta", "same")]
    rows += [(t + "pooler.dense.weight", "pooled_dense/kernel", dense),
             (t + "pooler.dense.bias", "pooled_dense/bias", "same"),
             ("model.classifier.weight", f"{OUTPUT_NAME}/kernel", dense),
             ("model.classifier.bias", f"{OUTPUT_NAME}/bias", "same")]
    return rows


def _to_keras(value: np.ndarray, layout: str, heads: int) -> np.ndarray:
    if layout == "same":
        return value
    if layout == "dense":
        return value.T
    hidden = value.shape[0]
    d = hidden // heads
    if layout == "qkv":
        return value.T.reshape(hidden, heads, d)
    if layout == "qkv_bias":
        return value.reshape(heads, d)
    return value.T.reshape(heads, d, hidden)  # attn_out


def _to_torch(value: np.ndarray, layout: str) -> np.ndarray:
    if layout == "same":
        return value
    if layout == "dense":
        return value.T
    if layout == "qkv":
        return value.reshape(value.shape[0], -1).T
    if layout == "qkv_bias":
        return value.reshape(-1)
    return value.reshape(-1, value.shape[-1]).T  # attn_out


def _paired(tm: Any, km: Any) -> list[tuple[Any, Any, str]]:
    """(torch parameter, Keras variable, layout) per table row; refuses a table that misses a weight
    of either model (a library version that added one would otherwise go silently untransferred)."""
    params = dict(tm.named_parameters())
    variables = {v.path: v for v in km.weights}
    table = weight_table(tm.model.config.num_hidden_layers)
    left_t = sorted(set(params) - {row[0] for row in table})
    left_k = sorted(set(variables) - {row[1] for row in table})
    unknown = [row for row in table if row[0] not in params or row[1] not in variables]
    if left_t or left_k or unknown:
        raise ValueError(f"bert weight table out of date: torch {left_t}, keras {left_k}, not found {unknown}")
    return [(params[t], variables[k], layout) for t, k, layout in table]


def torch_to_keras(tm: Any, km: Any) -> None:
    heads = tm.model.config.num_attention_heads
    for param, var, layout in _paired(tm, km):
        value = _to_keras(tr.to_numpy(param), layout, heads)
        if tuple(var.shape) != value.shape:
            raise ValueError(f"keras {var.path}: shape {tuple(var.shape)} expected, got {value.shape}")
        var.assign(value)


def keras_to_torch(km: Any, tm: Any) -> None:
    for param, var, layout in _paired(tm, km):
        tr.assign(param, _to_torch(np.asarray(var.numpy(), dtype=np.float32), layout))


def _configs() -> Any:
    """hidden is drawn as a multiple of num_heads with >= 2 dimensions per head."""
    from hypothesis import strategies as st

    @st.composite
    def sizes(draw: Any) -> dict[str, Any]:
        heads = draw(st.integers(1, 3))
        return {"num_heads": heads, "hidden": heads * draw(st.integers(c.MIN_HEAD_DIM, 4)),
                "intermediate": draw(st.integers(1, 8)), "num_layers": draw(st.integers(1, 2)),
                "max_len": draw(st.integers(5, 12))}

    base = _strategies.configs(classes=True)  # vocab_size, num_classes (and an embed_dim we drop)
    return st.tuples(base, sizes()).map(
        lambda pair: {**{k: v for k, v in pair[0].items() if k != "embed_dim"}, **pair[1]})


@register_twin("bert", configs=_configs, available=missing)
def bert(**overrides: Any) -> Twin:
    """BERT classifier from transformers (torch) and KerasHub (Keras); inputs of at most `max_len` tokens."""
    cfg = BertTwinConfig(**overrides)
    return Twin(
        name="bert", config=cfg, build_torch=build_torch, build_keras=build_keras,
        torch_to_keras=torch_to_keras, keras_to_torch=keras_to_torch,
        task="classify", length_field="max_len", max_seq_len=cfg.max_len,
        doc="transformers BertForSequenceClassification / KerasHub BertBackbone + classifier head",
    )
