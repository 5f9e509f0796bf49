"""Every registered runtime: available ones load a real artifact and reproduce the torch outputs;
unavailable ones say why (and never raise)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twinbench.bench.runtimes import RUNTIMES, get_runtime, list_runtimes, unavailable_reason
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.errors import ConfigError

#: Runtimes whose first load imports TensorFlow or compiles: seconds each on 2 cores.
_SLOW = {"torch-compile", "tf-function", "keras-eager", "keras-predict"}
_ARTIFACT_FOR_KIND = {"onnx": "torch-script", "torch": "torch", "keras": "keras"}


def _params() -> list:
    return [pytest.param(name, marks=[pytest.mark.slow] if name in _SLOW else [], id=name)
            for name in sorted(RUNTIMES) if not name.startswith("test-")]


def _load(name: str, tiny_run, settings: dict | None = None):
    rt = get_runtime(name)
    reason = unavailable_reason(rt)
    if reason:
        pytest.skip(f"{name} unavailable here: {reason}")
    if "cpu" not in rt.devices():
        pytest.skip(f"{name} has no cpu device (devices: {rt.devices()})")
    kind = sorted(rt.accepts)[0]
    art = tiny_run.artifacts[_ARTIFACT_FOR_KIND[kind]]
    return rt.load(art, LoadOptions(device="cpu", threads=1, run_dir=str(tiny_run.run_dir), settings=settings or {}))


@pytest.mark.parametrize("name", _params())
def test_runtime_matches_torch(name: str, tiny_run) -> None:
    session = _load(name, tiny_run)
    try:
        for batch_name, x in tiny_run.batches.items():
            call = session.bind({"tokens": x})
            result = call()
            session.sync()
            out = session.fetch(result)[0]
            np.testing.assert_allclose(out, tiny_run.reference[batch_name], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} on batch {batch_name}")
        info = session.info()
        json.dumps(info, default=str)  # recorded as JSON in the results row
        assert "io_in_timing" in info
        threads = info.get("threads", info.get("intra_op_threads"))
        assert threads == 1 or name in _SLOW  # in-process TF keeps its first pool size
    finally:
        session.close()


@pytest.mark.parametrize("name", sorted(n for n in RUNTIMES if not n.startswith("test-")))
def test_available_never_raises_and_devices_agree(name: str) -> None:
    rt = RUNTIMES[name]
    reason = rt.available()
    assert reason is None or (isinstance(reason, str) and reason)
    if reason is None:
        assert rt.devices(), f"{name} is available but lists no device"


def test_list_runtimes_gives_a_reason_for_each_unavailable() -> None:
    rows = list_runtimes()
    assert {r[0] for r in rows} == set(RUNTIMES)
    for name, devices, reason in rows:
        assert (reason is None) == bool(devices) or reason is None


def test_unknown_runtime_lists_known_names() -> None:
    with pytest.raises(ConfigError, match="ort-cpu"):
        get_runtime("tensorrt-llm")


def test_unknown_setting_is_a_config_error(tiny_run) -> None:
    with pytest.raises(ConfigError, match="graph_optimisation_level"):
        _load("ort-cpu", tiny_run, {"graph_optimisation_level": "all"})


def test_ort_graph_level_is_recorded(tiny_run) -> None:
    s = _load("ort-cpu", tiny_run, {"graph_optimization_level": "basic"})
    assert s.info()["graph_optimization_level"] == "basic"
    assert s.info()["providers"] == ["CPUExecutionProvider"]


def test_openvino_reports_the_precision_in_effect(tiny_run) -> None:
    s = _load("openvino", tiny_run)
    info = s.info()
    assert info["inference_precision"] == "fp32" and info["precision_effective"] == "fp32"
    assert info["inference_precision_requested"] == "f32"
    d = _load("openvino", tiny_run, {"inference_precision": "default"}).info()
    assert d["precision_effective"] in ("fp32", "bf16", "fp16")  # whatever this CPU's plugin picked
    assert d["inference_precision_requested"] == "default"
    with pytest.raises(ConfigError, match="inference_precision"):
        _load("openvino", tiny_run, {"inference_precision": "int4"})


def test_wrong_device_is_a_config_error(tiny_run) -> None:
    with pytest.raises(ConfigError, match="device"):
        RUNTIMES["openvino"].load(tiny_run.artifacts["torch-script"],
                                  LoadOptions(device="cuda", run_dir=str(tiny_run.run_dir)))
