"""Fuzz: configs, as TOML and as JSON files, through `twinbench run CONFIG --check` (everything a run
checks before it trains anything). A valid config is broken in one to three places: a value of any
type at any known key (top level, every section's fields, a twin's overrides, the executor) or an
unknown one, or a key removed. Each example must pass the check or be refused in one line (exit 2),
and must never make a run directory."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzlib import CASES, cli, fuzz_settings, junk, to_toml

pytestmark = pytest.mark.slow

VALID = {"twins": [{"name": "lstm", "hidden": 8}], "exporters": ["torch-script"], "runtimes": ["ort-cpu"],
         "batches": [1, 2], "seq_lens": [8], "out_dir": "runs", "training": {"epochs": 1},
         "timing": {"min_iters": 5, "repeats": 1}, "data": {"size": 200}, "executor": {"kind": "local"},
         "load": {"duration_s": 1.0}}


def _keys() -> list[tuple]:
    """Every key a config may have: RunConfig's fields, each section's fields, a twin's sizes."""
    from twinbench.config import SECTIONS, RunConfig

    out: list[tuple] = [(f.name,) for f in dataclasses.fields(RunConfig)]
    for section, cls in SECTIONS.items():
        out += [(section, f.name) for f in dataclasses.fields(cls)]
    out += [("twins", 0, k) for k in ("name", "hidden", "embed_dim", "vocab_size", "num_layers", "num_classes")]
    out += [("executor", k) for k in ("kind", "timeout_s", "address", "memory_mb", "group_untimed")]
    out += [("runtime_settings", "ort-cpu"), ("runtime_settings", "openvino", "inference_precision"),
            ("not_a_key",), ("data", "not_a_key")]
    return out


KEYS = _keys()
change = st.tuples(st.sampled_from(KEYS), st.sampled_from(["set", "set", "set", "delete"]), junk)


def _apply(config: dict, key: tuple, how: str, value: object) -> dict:
    """Set or delete `key` in `config`, making the tables on the way where they are missing."""
    config = json.loads(json.dumps(config))
    parent: object = config
    for part in key[:-1]:
        if isinstance(parent, dict):
            if not isinstance(parent.get(part), (dict, list)):
                parent[part] = {}
            parent = parent[part]
        elif isinstance(parent, list) and isinstance(part, int) and part < len(parent):
            parent = parent[part]
        else:
            return config
    if isinstance(parent, dict):
        if how == "delete":
            parent.pop(key[-1], None)
        else:
            parent[key[-1]] = value
    return config


@fuzz_settings(30)
@given(changes=st.lists(change, min_size=1, max_size=3), fmt=st.sampled_from(["toml", "json"]))
def test_any_config_is_checked_or_refused_in_one_line(changes: list, fmt: str) -> None:
    config = VALID
    for key, how, value in changes:
        config = _apply(config, key, how, value)
    CASES[f"config-{fmt}"] += 1
    with tempfile.TemporaryDirectory(prefix="tb-fuzz-config-") as tmp:
        work = Path(tmp)
        path = work / f"c.{fmt}"
        path.write_text(to_toml(config) if fmt == "toml" else json.dumps(config), encoding="utf-8")
        cli(work, "run", path.name, "--check", allowed=(0, 2), timeout=180)
        made = [p for p in work.rglob("manifest.json")]
        assert not made, f"--check made a run directory: {made}"
