"""The golden checked against the NumPy reference inside the parity table, and failures traced to
the layer and time step: real ONNX files on ONNX Runtime, real Keras, real pipeline runs."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twinbench.core.schema import SCHEMA_VERSION

from twinbench.bench.parity import sensitivity as sens
from twinbench.bench.parity.inputs import parity_inputs, save_goldens, save_parity_inputs
from twinbench.bench.parity.localize import output_runner
from twinbench.bench.parity.reference_check import (GOLDEN_FAILED, REFERENCE_RUNTIME, reference_rows,
                                                    reference_summary, save_references)
from twinbench.bench.parity.steps import locate_steps
from twinbench.bench.parity.table import parity_cross_table, parity_table
from twinbench.bench.parity.verdict import overall_verdict
from twinbench.exporters.artifact import Artifact
from twinbench.core.layout import RunDir
from twinbench.models import reference as ref
from twinbench.models.reference import registry as ref_registry
from twinbench.models.registry import get_twin

VOCAB, SEQ = 40, 6


def _run_dir(root: Path, twin, torch_model, keras_model=None) -> tuple[Path, dict[str, np.ndarray]]:
    """A run directory with what the pipeline writes for a twin: torch weights and sidecar, parity
    inputs, goldens and references."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "run_id": "r1", "status": "complete", "config": {}}))
    layout = RunDir(root)
    art_dir = layout.twin(twin.name)
    art_dir.mkdir(parents=True, exist_ok=True)
    torch.save(torch_model.state_dict(), art_dir / "torch.pt")
    Artifact("torch", "torch", f"artifacts/{twin.name}/torch.pt", twin.name, "torch",
             twin_config=dataclasses.asdict(twin.config)).write_sidecar(root)
    x = np.random.default_rng(3).integers(2, VOCAB, size=(24, SEQ))
    x[::3, SEQ // 2:] = 0
    batches = parity_inputs(x, VOCAB, twin)
    save_parity_inputs(layout.parity_inputs(twin.name), batches)
    save_goldens(twin, torch_model, keras_model, batches, layout)
    save_references(twin, torch_model, keras_model, batches, layout)
    return root, batches


def _cell(root: Path, cell_id: str, outputs: dict, **row) -> None:
    cells = root / "cells"
    cells.mkdir(exist_ok=True)
    base = {"run_id": "r1", "exporter": "torch-script", "precision": "fp32", "device": "cpu", "status": "ok",
            "error": "", "runtime_settings": "{}", "source": "torch"}
    (cells / f"{cell_id}.json").write_text(json.dumps({**base, **row}))
    np.savez(cells / f"{cell_id}.outputs.npz", **outputs)


def _onnx_artifact(root: Path, twin, name: str, graph) -> str:
    import onnx

    path = root / "artifacts" / twin.name / f"{name}.onnx"
    onnx.save(graph, str(path))
    Artifact(name, "onnx", f"artifacts/{twin.name}/{name}.onnx", twin.name, "torch", exporter="torch-script",
             twin_config=dataclasses.asdict(twin.config)).write_sidecar(root)
    return str(path)


def _model(twin, seed: int = 7):
    import torch

    torch.manual_seed(seed)
    return twin.build_torch(twin.config).eval()


# -- time-step localisation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nudged(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 2-layer lstm exported with TorchScript, and the same file with one element of the second
    layer's recurrent weight R moved by 0.5, both run on ONNX Runtime into one run directory."""
    import onnx

    twin = get_twin("lstm", vocab_size=VOCAB, num_layers=2, hidden=12)
    model = _model(twin)
    root, batches = _run_dir(tmp_path_factory.mktemp("nudged"), twin, model)
    good_path = _onnx_artifact(root, twin, "good", onnx.load(sens.export_torchscript(
        model, str(root / "export.onnx"), seq=SEQ)))
    graph = onnx.load(good_path)
    r_name = sens.lstm_weights(graph, which=1)["R"]
    bad = sens.perturb(graph, r_name, sens.onnx_lstm_index((5, 3), twin.config.hidden), 0.5)
    bad_path = _onnx_artifact(root, twin, "nudged", bad)
    _cell(root, "good", sens.ort_outputs(good_path, batches), twin=twin.name, artifact="good", runtime="ort-cpu")
    _cell(root, "bad", sens.ort_outputs(bad_path, batches), twin=twin.name, artifact="nudged", runtime="ort-cpu")
    return {"dir": root, "twin": twin, "model": model, "batches": batches, "bad": bad_path,
            "table": parity_table(root)}


def test_nudged_recurrent_weight_names_the_layer_and_the_first_step(nudged) -> None:
    """R multiplies the previous state, which is zero at step 1: layer lstm_1 first differs at step 2."""
    df = nudged["table"]
    fails = df[(df.artifact == "nudged") & (df.verdict == "FAIL")]
    assert len(fails) and set(fails.first_divergent_layer) == {"lstm"}
    located = fails[fails.error.str.contains("diverges at")]
    assert len(located) == 1  # the worst batch, where it was localised
    assert f"diverges at layer lstm_1, step 2 of {nudged['batches'][located.inputs.iloc[0]].shape[1]}" \
        in located.error.iloc[0]
    good = df[df.artifact == "good"]
    assert set(good.verdict) == {"PASS"} and not good.error.str.contains("diverges").any()


def test_the_step_agrees_with_torch_states_of_the_same_nudge(nudged) -> None:
    """The oracle: torch's own per-step states with the same weight moved leave 1e-5 at the same step."""
    import torch

    model = copy.deepcopy(nudged["model"]).double()
    with torch.no_grad():
        model.lstm.weight_hh_l1[5, 3] += 0.5
    x = nudged["batches"]["val"]
    seen = {}
    handle = model.lstm.register_forward_hook(lambda _m, _i, out: seen.update(y=out[0]))
    with torch.no_grad():
        model(torch.from_numpy(x))
    handle.remove()
    steps = ref.reference_outputs(nudged["twin"], nudged["model"].state_dict(), x, trace=True).steps
    torch_div = ref.first_divergent_step(steps, {"lstm_1": seen["y"].numpy()}, 1e-5)
    assert torch_div == ("lstm_1", 1)
    line = locate_steps(nudged["twin"], nudged["model"].state_dict(), x, "fp32", graph=_graph(nudged["bad"]),
                        values=_values(nudged["bad"], x))
    assert line == ref.describe(torch_div, x.shape[1])


def _graph(path: str):
    import onnx

    return onnx.load(path)


def _values(path: str, x: np.ndarray) -> dict:
    from twinbench.bench.parity.localize import onnx_intermediates

    return onnx_intermediates(path, x)


def test_outputs_only_reports_the_first_diverging_prefix(nudged) -> None:
    """Without the graph's states (as for a Loop-based GRU), the graph is re-run on each prefix of
    the failing rows: the output of the first 2 tokens is the first to leave tolerance."""
    x = nudged["batches"]["full_length"]
    run = output_runner(nudged["bad"])
    golden = ref.reference_outputs(nudged["twin"], nudged["model"].state_dict(), x).outputs
    line = locate_steps(nudged["twin"], nudged["model"].state_dict(), x, "fp32", run=run, golden=golden,
                        actual=run(x))
    assert line == f"outputs only: first diverging prefix step 2 of {x.shape[1]}"
    assert locate_steps(nudged["twin"], nudged["model"].state_dict(), x, "fp32").startswith("outputs only: ")
    cnn = get_twin("cnn", vocab_size=VOCAB)  # not recurrent: nothing to say in steps
    assert locate_steps(cnn, _model(cnn).state_dict(), np.ones((2, 6), np.int64), "fp32") == ""


# -- the golden's own check -------------------------------------------------------------------------


def _swap_forget_and_cell(lstm) -> None:
    """Exchange LSTM gate blocks f and g (i, f, g, o -> i, g, f, o) of every parameter; its own inverse."""
    import torch

    with torch.no_grad():
        for p in lstm.parameters():
            i, f, g, o = p.split(lstm.hidden_size, dim=0)
            p.copy_(torch.cat([i, g, f, o]))


def _gate_swapped(twin):
    """The twin with one gate-order bug in three places: torch's LSTM runs on swapped blocks while
    its state dict shows the stored ones, and both transfers swap too, so torch and Keras agree."""
    def build(cfg):
        model = twin.build_torch(cfg)
        model.lstm.register_forward_pre_hook(lambda m, _i: _swap_forget_and_cell(m))
        model.lstm.register_forward_hook(lambda m, _i, _o: _swap_forget_and_cell(m))
        return model

    def to_keras(tm, km):
        _swap_forget_and_cell(tm.lstm)
        try:
            twin.torch_to_keras(tm, km)
        finally:
            _swap_forget_and_cell(tm.lstm)

    def to_torch(km, tm):
        twin.keras_to_torch(km, tm)
        _swap_forget_and_cell(tm.lstm)

    return dataclasses.replace(twin, build_torch=build, torch_to_keras=to_keras, keras_to_torch=to_torch)


@pytest.mark.slow
def test_gate_bug_shared_by_torch_and_both_transfers_fails_the_golden_not_the_cells(tmp_path) -> None:
    import keras
    import torch

    twin = _gate_swapped(get_twin("lstm", vocab_size=VOCAB))
    torch.manual_seed(0)
    model = twin.build_torch(twin.config).eval()
    keras.utils.set_random_seed(0)
    km = twin.build_keras(twin.config)
    twin.torch_to_keras(model, km)
    root, batches = _run_dir(tmp_path / "run", twin, model, km)
    with torch.no_grad():
        torch_out = {k: model(torch.from_numpy(v)).double().numpy() for k, v in batches.items()}
    keras_out = {k: np.asarray(km(v, training=False), dtype=np.float64) for k, v in batches.items()}
    _cell(root, "t", torch_out, twin="lstm", artifact="torch", exporter="native", runtime="torch")
    _cell(root, "k", keras_out, twin="lstm", artifact="keras", exporter="native", runtime="tf-function",
          source="keras")

    df = parity_table(root)
    golden = df[df.runtime == REFERENCE_RUNTIME]
    assert set(golden.artifact) == {"golden", "golden.keras"} and set(golden.verdict) == {"FAIL"}
    assert golden.max_abs.min() > 1e-4 and set(golden.profile) == {"fp64"}
    cells = df[df.runtime != REFERENCE_RUNTIME]
    assert set(cells.verdict) == {"PASS"}  # every output equals its (wrong) golden
    assert cells.error.str.startswith(GOLDEN_FAILED).all()
    assert cells[cells.artifact == "keras"].error.str.contains("golden.keras.npz").all()
    assert cells[cells.artifact == "torch"].error.str.contains(r"\(golden\.npz").all()
    assert overall_verdict(df) == "FAIL"
    cross = parity_cross_table(root)
    torch_vs_keras = cross[cross.kind == "torch-vs-keras"]
    assert len(torch_vs_keras) and set(torch_vs_keras.verdict) == {"PASS"}  # what the suite missed before
    assert reference_summary(df).startswith("golden vs NumPy reference: FAIL")


def test_clean_goldens_pass_and_say_nothing(tmp_path) -> None:
    twin = get_twin("gru", vocab_size=VOCAB, bidirectional=True)
    root, batches = _run_dir(tmp_path / "run", twin, _model(twin))
    rows = reference_rows(root, "r1")
    assert len(rows) == len(batches) and {r["verdict"] for r in rows} == {"PASS"}
    assert max(r["max_abs"] for r in rows) <= 1e-12
    assert {r["artifact"] for r in rows} == {"golden"} and {r["runtime"] for r in rows} == {REFERENCE_RUNTIME}
    import pandas as pd

    line = reference_summary(pd.DataFrame(rows))
    assert line.startswith("golden vs NumPy reference: PASS (max abs ") and "1 of 1 twins" in line


def test_a_twin_without_a_reference_is_one_skip_row_saying_why(tmp_path) -> None:
    twin = dataclasses.replace(get_twin("lstm", vocab_size=VOCAB), name="user_lstm")
    root, _ = _run_dir(tmp_path / "run", twin, _model(twin))
    rows = reference_rows(root, "r1")
    assert [r["verdict"] for r in rows] == ["SKIP"]
    assert "registers no NumPy reference" in rows[0]["error"] and rows[0]["artifact"] == "golden"


def test_a_reference_that_cannot_run_a_batch_is_an_error_row(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ref_registry.REFERENCES, "_entries", dict(ref_registry.REFERENCES._entries))
    monkeypatch.setattr(ref_registry.REFERENCES, "_origin", dict(ref_registry.REFERENCES._origin))
    twin = dataclasses.replace(get_twin("lstm", vocab_size=VOCAB), name="short_lstm")

    @ref.register_reference("short_lstm")
    def short(cfg, weights, tokens, *, trace=False):
        if tokens.shape[1] > SEQ:
            raise ValueError(f"reads at most {SEQ} tokens")
        return ref.get_reference("lstm")(cfg, weights, tokens, trace=trace)

    root, batches = _run_dir(tmp_path / "run", twin, _model(twin))
    rows = {r["inputs"]: r for r in reference_rows(root, "r1")}
    assert rows["long"]["verdict"] == "ERROR" and "reads at most 6 tokens" in rows["long"]["error"]
    assert {r["verdict"] for name, r in rows.items() if name != "long"} == {"PASS"}
    assert set(rows) == set(batches)


# -- a small pipeline run -----------------------------------------------------------------------------


@pytest.mark.slow
def test_every_builtin_golden_passes_its_reference_check_in_a_run(tmp_path) -> None:
    import pandas as pd

    twins = ["lstm", "bilstm", "gru", "tagger", "cnn", "mlp", "transformer"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [sys.executable, "-m", "twinbench", "run", "--out", str(tmp_path), "-e", "torch-script", "-r", "torch",
            "-b", "2", "--epochs", "1", "--set", "data.size=200", "--set", "calibration=false",
            "--set", "timing.repeats=1", "--set", "timing.min_s=0.05", "--set", "timing.max_s=0.2"]  # the goldens' check, not the figures
    for name in twins:
        args += ["-t", name]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = Path(proc.stdout.split("report: ")[1].split()[0]).parent
    parity = pd.read_parquet(run / "parity.parquet")
    golden = parity[parity.runtime == REFERENCE_RUNTIME]
    assert set(golden.twin) == set(twins) and set(golden.artifact) == {"golden", "golden.keras"}
    assert set(golden.verdict) == {"PASS"} and golden.max_abs.max() <= 1e-10, golden[golden.verdict != "PASS"]
    assert not parity.error.fillna("").str.contains(GOLDEN_FAILED).any()
    assert "golden vs NumPy reference: PASS" in (run / "report.md").read_text()
    timings = json.loads((run / "manifest.json").read_text())["timings"]
    assert 0 < timings["reference_s"] < timings["total_s"]
