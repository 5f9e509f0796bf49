"""plan_cells: the one nested loop (kinds, skips with reasons, fixed lengths, parity, calibration)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from twinbench.bench.cells import CellSpec, plan_cells
from twinbench.bench.runtimes import RUNTIMES
from twinbench.bench.timing import TimingPlan
from twinbench.core.errors import ConfigError

PLAN = TimingPlan(min_iters=3, min_s=0.0, max_s=1.0)


def _plan(tiny_run, runtimes, **kw):
    args = dict(run_dir=tiny_run.run_dir, artifacts=list(tiny_run.artifacts.values()), runtimes=runtimes,
                devices=["cpu"], batches=[1, 8], seq_lens=[6, 12], threads=[1], plan=PLAN, settings={},
                twin_modules=[], vocab_size=40)
    args.update(kw)
    return plan_cells(**args)


def test_artifacts_only_meet_runtimes_of_their_kind(tiny_run) -> None:
    specs, skipped = _plan(tiny_run, ["torch", "ort-cpu", "openvino"])
    pairs = {(s.artifact["name"], s.runtime) for s in specs}
    assert pairs == {("torch", "torch"), ("torch-script", "ort-cpu"), ("torch-script", "openvino")}
    assert len(specs) == 3 * 2 * 2 and not skipped
    assert len({s.cell_id for s in specs}) == len(specs)


def test_unavailable_runtime_and_missing_device_are_skipped_rows(tiny_run) -> None:
    missing = [n for n in ("ort-cuda", "ort-trt", "ort-openvino") if RUNTIMES[n].available()]
    if not missing:
        pytest.skip("every ONNX Runtime provider is installed here")
    specs, skipped = _plan(tiny_run, ["ort-cpu", missing[0]], devices=["cpu", "cuda"])
    reasons = {(r["runtime"], r["device"]): r["error"] for r in skipped}
    assert all(r["status"] == "skipped" and r["error"] for r in skipped)
    assert any(rt == missing[0] for rt, _ in reasons)
    if "cuda" not in RUNTIMES["ort-cpu"].devices():
        assert "no device 'cuda'" in reasons[("ort-cpu", "cuda")]
    assert {s.runtime for s in specs} == {"ort-cpu"}


def test_parity_inputs_go_to_the_first_cell_of_each_artifact_runtime_device(tiny_run) -> None:
    specs, _ = _plan(tiny_run, ["torch", "ort-cpu"])
    with_parity = [s for s in specs if s.parity_inputs]
    assert {(s.artifact["name"], s.runtime) for s in with_parity} == {("torch", "torch"), ("torch-script", "ort-cpu")}
    assert all(s.parity_inputs == "artifacts/lstm/parity_inputs.npz" for s in with_parity)
    specs, _ = _plan(tiny_run, ["torch"], parity=False)
    assert not any(s.parity_inputs for s in specs)


def test_fixed_length_artifacts_get_their_own_length_only(tiny_run) -> None:
    art = tiny_run.artifacts["torch-script"]
    fixed = dataclasses.replace(art, name="fixed", meta={"fixed_length": 9})
    specs, _ = _plan(tiny_run, ["ort-cpu"], artifacts=[fixed])
    assert {s.seq_len for s in specs} == {9} and len(specs) == 2


def test_calibration_cell_comes_first(tiny_run) -> None:
    specs, _ = _plan(tiny_run, ["ort-cpu"], calibration=True)
    assert specs[0].runtime == "ort-cpu" and specs[0].artifact["twin"] == "_calibration"
    assert (tiny_run.run_dir / specs[0].artifact["path"]).is_file()


def test_vocab_comes_from_the_twin_config(tiny_run) -> None:
    specs, _ = _plan(tiny_run, ["ort-cpu"], vocab_size=None)
    assert {s.vocab_size for s in specs} == {40}


def test_spec_json_round_trip(tiny_run) -> None:
    specs, _ = _plan(tiny_run, ["ort-cpu"], settings={"ort-cpu": {"graph_optimization_level": "basic"}})
    s = specs[0]
    assert CellSpec.from_dict(json.loads(s.to_json())) == s
    assert s.settings == {"graph_optimization_level": "basic"}
    assert s.key_row()["artifact"] == "torch-script"


def test_bad_inputs_are_config_errors(tiny_run) -> None:
    with pytest.raises(ConfigError, match="unknown runtime"):
        _plan(tiny_run, ["onnxruntime"])
    with pytest.raises(ConfigError, match="batch"):
        _plan(tiny_run, ["ort-cpu"], batches=[0])
    with pytest.raises(ConfigError, match="cell spec"):
        CellSpec.from_dict({"cell_id": "x"})
