"""A user registers a twin from their own .py file, loaded by path (`--twin-module path.py`)."""

from __future__ import annotations

import os
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from twinbench.core.errors import ConfigError
from twinbench.models import registry

USER_MODULE = textwrap.dedent('''
    from __future__ import annotations
    from dataclasses import dataclass
    from twinbench.models import transfer
    from twinbench.models.registry import Twin, register_twin


    @dataclass(frozen=True)
    class BagConfig:
        vocab_size: int = 1000
        embed_dim: int = 8
        num_classes: int = 3

        def __post_init__(self):
            if self.embed_dim < 1:
                raise ValueError("embed_dim: must be positive")


    def build_torch(cfg):
        import torch

        class Bag(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(cfg.vocab_size, cfg.embed_dim)
                self.logits = torch.nn.Linear(cfg.embed_dim, cfg.num_classes)

            def forward(self, tokens):
                return self.logits(self.embedding(tokens).mean(dim=1))

        return Bag()


    def build_keras(cfg):
        import keras

        tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
        x = keras.layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embedding")(tokens)
        x = keras.layers.GlobalAveragePooling1D()(x)
        return keras.Model(tokens, keras.layers.Dense(cfg.num_classes, name="logits")(x))


    def torch_to_keras(tm, km):
        transfer.embedding_t2k(tm.embedding, km.get_layer("embedding"))
        transfer.dense_t2k(tm.logits, km.get_layer("logits"))


    def keras_to_torch(km, tm):
        transfer.embedding_k2t(km.get_layer("embedding"), tm.embedding)
        transfer.dense_k2t(km.get_layer("logits"), tm.logits)


    @register_twin("my_twin")
    def my_twin(**overrides):
        return Twin("my_twin", BagConfig(**overrides), build_torch, build_keras, torch_to_keras, keras_to_torch)
''')


@pytest.fixture
def clean_registry():
    with registry.TWINS.scoped():  # the built-ins load first, so they are part of what is restored
        yield


def test_user_twin_registers_and_transfers(tmp_path, clean_registry):
    import torch

    path = tmp_path / "my_twins.py"
    path.write_text(USER_MODULE, encoding="utf-8")
    registry.load_twin_module(str(path))
    assert "my_twin" in registry.list_twins()
    twin = registry.get_twin("my_twin", vocab_size=50)
    tm, km = twin.build_torch(twin.config).eval(), twin.build_keras(twin.config)
    twin.torch_to_keras(tm, km)
    x = np.random.default_rng(0).integers(0, 50, size=(4, 7))
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(km(x, training=False)), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="embed_dim"):
        registry.get_twin("my_twin", embed_dim=0)


def test_broken_user_module_is_one_line_config_error(tmp_path, clean_registry):
    path = tmp_path / "broken.py"
    path.write_text("import no_such_package_here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="failed to import"):
        registry.load_twin_module(str(path))


def test_user_twin_cannot_shadow_a_builtin(tmp_path, clean_registry):
    path = tmp_path / "shadow.py"
    path.write_text(USER_MODULE.replace('"my_twin"', '"lstm"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="already registered"):
        registry.load_twin_module(str(path))


def test_pretrained_vectors_need_an_embedding_matrix_field(tmp_path, clean_registry):
    """The data's overrides refuse [embeddings] for a user twin that cannot take them, naming the twin;
    the contract's defaults (logits head, no length field) keep a minimal user twin working."""
    path = tmp_path / "my_twins.py"
    path.write_text(USER_MODULE, encoding="utf-8")
    registry.load_twin_module(str(path))
    twin = registry.get_twin("my_twin")
    sizes = dict(vocab_size=3, num_outputs=2, max_len=5)
    assert twin.data_overrides(**sizes) == {"vocab_size": 3, "num_classes": 2}
    with pytest.raises(ConfigError, match="'my_twin': has no embedding_matrix field"):
        twin.data_overrides(**sizes, embedding_matrix=str(tmp_path / "m.npy"), embed_dim=4)
    auto = registry.get_twin("lstm").data_overrides(**sizes, embedding_matrix="m.npy", embed_dim=4)
    assert (auto["embed_dim"], auto["embedding_matrix"], auto["freeze_embedding"]) == (4, "m.npy", False)
