"""Helpers for exporter tests: every registered twin x exporter, exported once per session.

A tiny unregistered twin ("tiny-lstm") is always included so the exporters are tested even before
(or without) the built-in twins; it is not registered, so other areas' registry tests never see it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from twinbench.exporters import ExportRequest  # noqa: E402
from twinbench.models.registry import Twin, get_twin, list_twins  # noqa: E402

VOCAB = 40


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int = VOCAB
    embed_dim: int = 8
    hidden: int = 12
    num_classes: int = 3


def _tiny_torch(cfg: TinyConfig) -> Any:
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(cfg.vocab_size, cfg.embed_dim)
            self.lstm = torch.nn.LSTM(cfg.embed_dim, cfg.hidden, batch_first=True)
            self.fc = torch.nn.Linear(cfg.hidden, cfg.num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(self.emb(tokens))
            return self.fc(out[:, -1])

    torch.manual_seed(0)
    return Tiny().eval()


def _tiny_keras(cfg: TinyConfig) -> Any:
    import keras

    inp = keras.Input(shape=(None,), dtype="int64", name="tokens")
    h = keras.layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="emb")(inp)
    h = keras.layers.LSTM(cfg.hidden, name="lstm")(h)
    return keras.Model(inp, keras.layers.Dense(cfg.num_classes, name="fc")(h))


def _tiny_t2k(tm: Any, km: Any) -> None:
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    km.get_layer("emb").set_weights([sd["emb.weight"]])
    km.get_layer("lstm").set_weights([sd["lstm.weight_ih_l0"].T, sd["lstm.weight_hh_l0"].T,
                                      sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"]])
    km.get_layer("fc").set_weights([sd["fc.weight"].T, sd["fc.bias"]])


def tiny_twin() -> Twin:
    return Twin(name="tiny-lstm", config=TinyConfig(), build_torch=_tiny_torch, build_keras=_tiny_keras,
                torch_to_keras=_tiny_t2k, keras_to_torch=lambda k, t: None)


TWIN_NAMES = ["tiny-lstm"] + list_twins()


def make_twin(name: str) -> Twin:
    return tiny_twin() if name == "tiny-lstm" else get_twin(name, vocab_size=VOCAB)


@dataclass
class Built:
    twin: Twin
    torch_model: Any
    keras_model: Any


_BUILT: dict[str, Built] = {}


def built(name: str) -> Built:
    """The twin's models with the torch weights copied into Keras (built once per session)."""
    if name not in _BUILT:
        twin = make_twin(name)
        tm = twin.build_torch(twin.config).eval()
        km = twin.build_keras(twin.config)
        twin.torch_to_keras(tm, km)
        _BUILT[name] = Built(twin, tm, km)
    return _BUILT[name]


def request_for(name: str, run_dir: Path, **kw: Any) -> ExportRequest:
    b = built(name)
    return ExportRequest(twin=b.twin, torch_model=b.torch_model, keras_model=b.keras_model,
                         out_dir=run_dir / "artifacts" / b.twin.name, run_dir=run_dir, **kw)


def reference(b: Built, source: str, tokens: np.ndarray) -> np.ndarray:
    """What the exported file must reproduce: torch for torch exporters, Keras for tf2onnx."""
    if source == "keras":
        return np.asarray(b.keras_model(tokens, training=False))
    import torch

    with torch.no_grad():
        return b.torch_model(torch.from_numpy(tokens)).numpy()


def shapes_for(twin: Twin) -> list[tuple[int, int]]:
    seqs = [twin.fixed_length] if twin.fixed_length else [5, 13]
    return [(b, s) for b in (1, 3, 8) for s in seqs]


def tokens(batch: int, seq: int, vocab: int = VOCAB, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, (batch, seq), dtype=np.int64)
