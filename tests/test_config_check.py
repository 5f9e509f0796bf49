"""`twinbench run --check` is the run's own validation: whatever the run would reject, the check
rejects first (one line, exit 2, in seconds); whatever it accepts, every later stage accepts too.

The property test draws a bad (or odd) value for one field of the config or of one of its sections,
chosen from the field's declared type, and asserts: the check either refuses it with one
TwinbenchError line, or it passes and every consumer downstream takes the config as it is — the
executor is made, every runtime takes its settings, the cells are planned and their specs survive
the trip through JSON to a worker, and the manifest's copy of the config reads back as the same
config (what `bench`, `parity` and `--resume` start from)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from twinbench.bench.calibration import calibration_artifact
from twinbench.bench.cells import CellSpec
from twinbench.bench.load.settings import LoadSettings
from twinbench.bench.runtimes import RUNTIMES
from twinbench.config import SECTIONS, RunConfig, config_from_mapping, load_config
from twinbench.core.errors import TwinbenchError
from twinbench.core.typed import hints
from twinbench.stages.measure import make_executor, plan
from twinbench.stages.prepare import prepare

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: What the issue found `--check` passing and the run then rejecting, each a config file's text.
FOUND = {
    "unknown executor kind": '[executor]\nkind = "bogus"\n',
    "runtime setting of the wrong type": '[runtime_settings.ort-cpu]\ngraph_optimization_level = 3\n',
    "OpenVINO precision that does not exist": '[runtime_settings.openvino]\ninference_precision = "f8"\n',
    "timing window longer than the cell timeout": 'cell_timeout_s = 10\n[timing]\nmax_s = 60.0\n',
    "machines with the local executor": 'machines = ["hw:a"]\n',
    "cell_timeout_s nan": '{"cell_timeout_s": NaN}',
    "cell_timeout_s inf": 'cell_timeout_s = inf\n',
    "negative executor timeout": '[executor]\ntimeout_s = -5\n',
    "load duration longer than the timeout": 'scenarios = ["server"]\ncell_timeout_s = 30\n[load]\nsearch_s = 60\n',
}


@pytest.mark.parametrize("text", list(FOUND.values()), ids=list(FOUND))
def test_check_refuses_what_the_run_would_refuse(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / ("c.json" if text.startswith("{") else "c.toml")
    cfg.write_text(text)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", str(cfg), "--check"], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=60)
    took = time.perf_counter() - t0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("twinbench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and took < 5, took
    assert not (tmp_path / "runs").exists()


# the property ------------------------------------------------------------------------------------

def _fields() -> list[tuple[str, Any]]:
    """(place, declared type) of every field: the top level and every section's keys."""
    out = [(f.name, t) for f, t in ((f, hints(RunConfig)[f.name]) for f in dataclasses.fields(RunConfig))
           if f.name not in SECTIONS and f.name not in ("executor", "out_dir", "run_id", "twin_modules", "onnx")]
    for name, cls in SECTIONS.items():
        out += [(f"{name}.{f.name}", hints(cls)[f.name]) for f in dataclasses.fields(cls) if f.init]
    out += [("executor.timeout_s", float), ("executor.kind", str), ("executor.group_untimed", bool),
            ("runtime_settings.openvino.inference_precision", str), ("runtime_settings.openvino.num_streams", int),
            ("runtime_settings.ort-cpu.graph_optimization_level", str), ("runtime_settings.torch.allow_tf32", bool)]
    return out


ODD: dict[str, list[Any]] = {
    "int": [-1, 0, 1, 2, True, 1.5, "3", None, 10**30, [], {}],
    "float": [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-9, 2.5, 1e300, "x", None, True, [1.0]],
    "bool": [1, 0, "yes", None, True, False],
    "str": [3, "", "x", True, None, ["a"], {}],
    "seq": ["x", [None], [-1], [0], [3], [], 5, [1.5], ["a", "a"]],
    "map": [3, "x", [], {"": 1}, {"k": None}],
}


def _kind(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _kind(args[0]) if args else "str"
    if origin is tuple:
        return "seq"
    if origin in (dict, typing.Mapping) or tp in (dict, typing.Mapping):
        return "map"
    if origin is typing.Literal:
        return "str"
    return {int: "int", float: "float", bool: "bool", str: "str"}.get(tp, "str")


FIELDS = _fields()


@st.composite
def odd_configs(draw: Any) -> dict[str, Any]:
    place, tp = draw(st.sampled_from(FIELDS))
    value = draw(st.sampled_from(ODD[_kind(tp)]))
    raw: dict[str, Any] = {"twins": ["mlp"], "exporters": ["torch-script"], "runtimes": ["ort-cpu", "openvino"],
                           "training": {"epochs": 1}}
    node = raw
    parts = place.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return raw


@settings(max_examples=int(os.environ.get("TB_CHECK_EXAMPLES", "150")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=odd_configs())
def test_what_the_check_passes_every_later_stage_takes(raw: dict[str, Any], tmp_path: Path) -> None:
    raw = {**raw, "out_dir": str(tmp_path / "runs")}
    try:
        cfg = load_config(None, raw)
        prep = prepare(cfg, say=lambda _msg: None)
    except TwinbenchError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    cfg = prep.cfg
    again = config_from_mapping(json.loads(json.dumps(cfg.to_dict())))  # the manifest's copy
    assert again == cfg
    make_executor(cfg).close()
    for name in cfg.runtimes:
        RUNTIMES.get(name).check_settings(cfg.runtime_settings.get(name))
    run_dir = tmp_path / "runs" / "planned"
    specs, _ = plan(cfg, run_dir, [calibration_artifact(run_dir)], prep.seq_lens)
    for spec in specs[:3]:
        back = CellSpec.from_dict(json.loads(spec.to_json()))
        assert back.plan == cfg.timing and back.key == spec.key
        LoadSettings.from_mapping(back.load)
