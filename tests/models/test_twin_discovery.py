"""One file adds a twin: a module dropped into the twins folder is found, listed, and property-tested
without editing any list (the folder's path is extended with a temporary folder for the test)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import twinbench.models.twins as twins_pkg
from twinbench.models import registry

NAME = "probe_bag"
MODULE = textwrap.dedent(f'''
    """`{NAME}`: Embedding -> mean over time -> Dense (a twin written only for the discovery test)."""

    from __future__ import annotations

    from dataclasses import dataclass
    from typing import Any

    from twinbench.models import transfer as tr
    from twinbench.models.registry import OUTPUT_NAME, Twin, register_twin
    from twinbench.models.twins import _common as c
    from twinbench.models.twins import _strategies


    @dataclass(frozen=True)
    class BagConfig:
        vocab_size: int = c.DEFAULT_VOCAB
        embed_dim: int = 8
        num_classes: int = 2
        embedding_matrix: str | None = None
        freeze_embedding: bool = False

        def __post_init__(self) -> None:
            c.check_embedding(self)
            c.check_positive("num_classes", self.num_classes)


    def build_torch(cfg: BagConfig) -> Any:
        import torch

        class Bag(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embedding = c.torch_embedding(cfg)
                self.logits = torch.nn.Linear(cfg.embed_dim, cfg.num_classes)

            def forward(self, tokens: Any) -> Any:
                return self.logits(self.embedding(tokens).mean(dim=1))

        return Bag()


    def build_keras(cfg: BagConfig) -> Any:
        import keras

        tokens = c.keras_tokens()
        x = keras.layers.GlobalAveragePooling1D(name="mean")(c.keras_embedding(cfg)(tokens))
        out = keras.layers.Dense(cfg.num_classes, name=OUTPUT_NAME)(x)
        return c.finish_keras(keras.Model(tokens, out, name="{NAME}"), cfg)


    def torch_to_keras(tm: Any, km: Any) -> None:
        tr.embedding_t2k(tm.embedding, km.get_layer("embedding"))
        tr.dense_t2k(tm.logits, km.get_layer(OUTPUT_NAME))


    def keras_to_torch(km: Any, tm: Any) -> None:
        tr.embedding_k2t(km.get_layer("embedding"), tm.embedding)
        tr.dense_k2t(km.get_layer(OUTPUT_NAME), tm.logits)


    @register_twin("{NAME}", configs=lambda: _strategies.configs(classes=True))
    def probe_bag(**overrides: Any) -> Twin:
        return Twin("{NAME}", BagConfig(**overrides), build_torch, build_keras, torch_to_keras, keras_to_torch)
''')


@pytest.fixture
def twin_in_folder(tmp_path, monkeypatch):
    """A twins folder holding one more module, as if it had been added to models/twins/."""
    (tmp_path / f"{NAME}.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.setattr(twins_pkg, "__path__", [*twins_pkg.__path__, str(tmp_path)])
    with registry.TWINS.scoped():
        yield tmp_path / f"{NAME}.py"
    sys.modules.pop(f"{twins_pkg.__name__}.{NAME}", None)


def test_a_module_in_the_folder_is_a_registered_twin(twin_in_folder) -> None:
    assert NAME not in registry.list_twins()
    assert NAME in registry.TWINS.discover(rescan=True)
    assert NAME in registry.list_twins()  # the parameter source of the parametrized twin suites
    twin = registry.get_twin(NAME, vocab_size=12)
    assert twin.seq_len_problem(1) is None and twin.num_outputs == 2


@pytest.mark.slow
def test_the_new_twin_is_property_tested_from_its_own_strategy(twin_in_folder) -> None:
    pytest.importorskip("hypothesis")
    from test_twin_properties import check_transfer_over_configs

    registry.TWINS.discover(rescan=True)
    check_transfer_over_configs(NAME, max_examples=3)


def test_twinbench_list_shows_a_twin_from_a_module_file(tmp_path) -> None:
    module = tmp_path / "probe_twins.py"
    module.write_text(MODULE, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "twinbench", "list", "--twin-module", str(module)], check=True,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"}).stdout
    assert NAME in out and "lstm" in out


def test_discovery_imports_no_framework() -> None:
    """Discovery imports every twin, exporter and runtime module: each must stay light at import."""
    code = ("import sys, twinbench.models.registry as r, twinbench.exporters, twinbench.bench.runtimes; r.list_twins(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'onnx', 'onnxruntime', 'openvino', 'pandas', "
            "'hypothesis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
