"""Config loading: defaults, files, CLI overrides, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinbench.config import RunConfig, TwinSpec, check_config, load_config
from twinbench.core.errors import ConfigError


def test_defaults_are_the_builtin_demo() -> None:
    cfg = load_config()
    assert [t.name for t in cfg.twins] == ["lstm"]
    assert set(cfg.exporters) == {"torch-dynamo", "torch-script", "tf2onnx"}
    assert set(cfg.runtimes) == {"torch", "tf-function", "keras-eager", "ort-cpu", "openvino"}


def test_toml_file_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('twins = [{ name = "lstm", hidden = 8 }, "gru"]\nbatches = [2, 4]\n[training]\nepochs = 2\n')
    cfg = load_config(p, {"threads": (2,)})
    assert cfg.twins == (TwinSpec("lstm", {"hidden": 8}), TwinSpec("gru"))
    assert cfg.batches == (2, 4) and cfg.threads == (2,)
    assert cfg.training.epochs == 2 and cfg.training.batch_size == 32  # merged over defaults


def test_json_file(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"runtimes": ["ort-cpu"], "timing": {"min_iters": 5}}))
    cfg = load_config(p)
    assert cfg.runtimes == ("ort-cpu",) and cfg.timing.min_iters == 5


@pytest.mark.parametrize("text, match", [
    ("batches = [0]", "batches"),
    ("threads = [-1]", "threads"),
    ("bogus = 1", r"unknown config key\(s\) bogus"),
    ("twins = [3]", "twins"),
    ("this is not toml", "not valid"),
])
def test_bad_files_give_config_errors(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="unreadable"):
        load_config(bad)


@pytest.mark.parametrize("overrides, match", [
    ({"twins": ("no-such-twin",)}, "unknown twin 'no-such-twin'"),
    ({"runtimes": ("no-such-runtime",)}, "unknown runtime 'no-such-runtime'"),
    ({"exporters": ("no-such-exporter",)}, "unknown exporter"),
    ({"training": {"epochs": -1}}, "epochs"),
    ({"timing": {"min_iters": 0}}, "min_iters"),
])
def test_validate_names_and_sections(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config(load_config(None, overrides))


def test_default_config_validates() -> None:
    check_config(RunConfig())


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "docs" / "examples").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_example_configs_validate(path: Path) -> None:
    from twinbench.config import load_config

    cfg = load_config(path)
    check_config(cfg)
    assert cfg.twins
