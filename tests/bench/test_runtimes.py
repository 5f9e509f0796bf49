"""Every registered runtime: available ones load a real artifact and reproduce the torch outputs;
unavailable ones say why (and never raise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from twinbench.bench.runtimes import RUNTIMES, get_runtime, list_runtimes, register_runtime
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.core.errors import ConfigError

#: Runtimes whose first load imports TensorFlow or compiles: seconds each on 2 cores.
_SLOW = {"torch-compile", "tf-function", "keras-eager", "keras-predict"}


def _params() -> list:
    return [pytest.param(name, marks=[pytest.mark.slow] if name in _SLOW else [], id=name)
            for name in sorted(RUNTIMES) if not name.startswith("test-")]


@pytest.mark.parametrize("name", _params())
def test_runtime_matches_torch(name: str, tiny_run) -> None:
    session = tiny_run.session(name)
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
    assert [r[0] for r in rows] == list(RUNTIMES)
    for name, devices, reason in rows:
        if reason is None:
            assert devices == RUNTIMES[name].devices() and devices, name
        else:
            assert isinstance(reason, str) and reason and devices == [], name


@pytest.fixture
def scratch_runtimes():
    """Runtimes (and probe modules) a test registers are gone afterwards."""
    with RUNTIMES.scoped():
        yield
    sys.modules.pop("twinbench.bench.runtimes.probe_ort_plain", None)


def test_list_runtimes_hides_devices_of_an_unavailable_runtime(scratch_runtimes) -> None:
    """A runtime that is unavailable (or whose check raises) lists no device, whatever devices() says."""
    def broken() -> str | None:
        raise OSError("driver library is corrupt")

    for name, available in (("probe-missing", lambda: "probelib not installed"), ("probe-broken", broken)):
        register_runtime(name, accepts={"onnx"}, available=available, devices=lambda: ["cpu"])(lambda a, o: None)
    rows = {name: (devices, reason) for name, devices, reason in list_runtimes()}
    assert rows["probe-missing"] == ([], "probelib not installed")
    assert rows["probe-broken"] == ([], "availability check failed: OSError: driver library is corrupt")


#: A small real runtime in one file: a plain ONNX Runtime CPU session.
RUNTIME_MODULE = textwrap.dedent('''
    """`probe-ort-plain`: ONNX Runtime CPU with default session options (discovery test)."""

    from __future__ import annotations

    from typing import Any, Callable, Mapping

    import numpy as np

    from twinbench.bench.runtimes import _util, register_runtime
    from twinbench.bench.runtimes.base import LoadOptions
    from twinbench.exporters.artifact import Artifact


    class PlainSession:
        def __init__(self, path: str) -> None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self.sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]:
            x = {self.sess.get_inputs()[0].name: np.asarray(_util.only_input(feeds), dtype=np.int64)}
            return lambda: self.sess.run(None, x)

        def fetch(self, result: Any) -> list[np.ndarray]:
            return [np.asarray(result[0], dtype=np.float32)]

        def sync(self) -> None:
            pass

        def info(self) -> dict[str, Any]:
            return {"threads": 1, "io_in_timing": False}

        def close(self) -> None:
            self.sess = None


    @register_runtime("probe-ort-plain", accepts={"onnx"}, available=lambda: _util.missing("onnxruntime"),
                      devices=lambda: ["cpu"], doc="ONNX Runtime CPU, default session options")
    def load(artifact: Artifact, opts: LoadOptions) -> PlainSession:
        _util.check_device("probe-ort-plain", opts.device, ("cpu",))
        return PlainSession(str(artifact.abspath(opts.run_dir)))
''')


def test_a_module_in_the_runtimes_folder_is_a_registered_runtime(tmp_path, monkeypatch, scratch_runtimes,
                                                                 tiny_run) -> None:
    import twinbench.bench.runtimes as runtimes_pkg

    (tmp_path / "probe_ort_plain.py").write_text(RUNTIME_MODULE, encoding="utf-8")
    monkeypatch.setattr(runtimes_pkg, "__path__", [*runtimes_pkg.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "twinbench.bench.runtimes.probe_ort_plain", raising=False)
    assert "probe-ort-plain" not in RUNTIMES
    assert "probe-ort-plain" in RUNTIMES.discover(rescan=True)
    assert ("probe-ort-plain", ["cpu"], None) in list_runtimes()
    session = tiny_run.session("probe-ort-plain")  # and it really runs, like every registered runtime
    for batch_name, x in tiny_run.batches.items():
        out = session.fetch(session.bind({"tokens": x})())[0]
        np.testing.assert_allclose(out, tiny_run.reference[batch_name], rtol=1e-4, atol=1e-5)
    session.close()


def test_twinbench_list_shows_a_runtime_from_a_module_file(tmp_path) -> None:
    module = tmp_path / "probe_runtime.py"
    module.write_text(RUNTIME_MODULE, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "twinbench", "list", "--twin-module", str(module)], check=True,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"}).stdout
    assert "probe-ort-plain" in out and "ort-cpu" in out


def test_unknown_runtime_lists_known_names() -> None:
    with pytest.raises(ConfigError, match="ort-cpu"):
        get_runtime("tensorrt-llm")


def test_unknown_setting_is_a_config_error(tiny_run) -> None:
    with pytest.raises(ConfigError, match="graph_optimisation_level"):
        tiny_run.session("ort-cpu", settings={"graph_optimisation_level": "all"})


def test_ort_graph_level_is_recorded(tiny_run) -> None:
    s = tiny_run.session("ort-cpu", settings={"graph_optimization_level": "basic"})
    assert s.info()["graph_optimization_level"] == "basic"
    assert s.info()["providers"] == ["CPUExecutionProvider"]


def test_openvino_reports_the_precision_in_effect(tiny_run) -> None:
    s = tiny_run.session("openvino")
    info = s.info()
    assert info["inference_precision"] == "fp32" and info["precision_effective"] == "fp32"
    assert info["inference_precision_requested"] == "f32"
    d = tiny_run.session("openvino", settings={"inference_precision": "default"}).info()
    assert d["precision_effective"] in ("fp32", "bf16", "fp16")  # whatever this CPU's plugin picked
    assert d["inference_precision_requested"] == "default"
    with pytest.raises(ConfigError, match="inference_precision"):
        tiny_run.session("openvino", settings={"inference_precision": "int4"})


def test_wrong_device_is_a_config_error(tiny_run) -> None:
    with pytest.raises(ConfigError, match="device"):
        RUNTIMES["openvino"].load(tiny_run.artifacts["torch-script"],
                                  LoadOptions(device="cuda", run_dir=str(tiny_run.run_dir)))
