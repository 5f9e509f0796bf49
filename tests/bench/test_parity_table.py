"""parity_table / parity_cross_table over a real run directory: real ONNX files, real ONNX Runtime
and OpenVINO outputs, cell files in the worker's format."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from twinbench.core.schema import SCHEMA_VERSION

from twinbench.bench.parity import sensitivity as sens
from twinbench.bench.parity.compare import compare
from twinbench.bench.parity.inputs import (golden_outputs, parity_inputs, save_golden,
                                    save_parity_inputs)
from twinbench.bench.parity.reference_check import REFERENCE_RUNTIME, save_references
from twinbench.bench.parity.table import CROSS_COLUMNS, parity_cross_table, parity_table
from twinbench.bench.parity.verdict import overall_verdict
from twinbench.core.schema import PARITY_COLUMNS
from twinbench.exporters.artifact import Artifact
from twinbench.core.layout import RunDir
from twinbench.models.registry import get_twin

VOCAB, MAX_LEN, TWIN = 40, 6, "lstm"


def _write_cell(cells: Path, cell_id: str, outputs: dict | None = None, **row) -> None:
    cells.mkdir(parents=True, exist_ok=True)
    base = {"run_id": "r1", "twin": TWIN, "exporter": "torch-script", "precision": "fp32", "device": "cpu",
            "status": "ok", "error": "", "runtime_settings": "{}"}
    (cells / f"{cell_id}.json").write_text(json.dumps({**base, **row}))
    if outputs is not None:
        np.savez(cells / f"{cell_id}.outputs.npz", **outputs)


def _openvino(path: str, batches: dict, precision: str) -> tuple[dict, dict]:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU",
                                  {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": 1})
    effective = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    outs = {k: np.asarray(compiled({"tokens": v})[0], dtype=np.float64) for k, v in batches.items()}
    return outs, {"inference_precision": effective}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import onnx
    import torch

    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "run_id": "r1", "status": "complete", "config": {}}))
    art_dir = run_dir / "artifacts" / TWIN
    art_dir.mkdir(parents=True)
    twin = get_twin(TWIN, vocab_size=VOCAB)
    torch.manual_seed(7)
    model = twin.build_torch(twin.config).eval()
    torch.save(model.state_dict(), art_dir / "torch.pt")
    cfg = dataclasses.asdict(twin.config)
    Artifact("torch", "torch", f"artifacts/{TWIN}/torch.pt", TWIN, "torch", twin_config=cfg).write_sidecar(run_dir)
    good = str(art_dir / "torch-script.onnx")
    sens.export_torchscript(model, good, seq=MAX_LEN)
    Artifact("torch-script", "onnx", f"artifacts/{TWIN}/torch-script.onnx", TWIN, "torch",
             exporter="torch-script", twin_config=cfg).write_sidecar(run_dir)
    broken = str(art_dir / "broken.onnx")
    onnx.save(sens.swap_lstm_gates(onnx.load(good), "f", "c"), broken)
    Artifact("broken", "onnx", f"artifacts/{TWIN}/broken.onnx", TWIN, "torch",
             exporter="torch-dynamo", twin_config=cfg).write_sidecar(run_dir)

    x = np.random.default_rng(3).integers(2, VOCAB, size=(24, MAX_LEN))
    x[::3, MAX_LEN // 2:] = 0
    batches = parity_inputs(x, VOCAB, twin)
    save_parity_inputs(art_dir / "parity_inputs.npz", batches)
    golden = golden_outputs(twin, model, batches)
    save_golden(art_dir / "golden.npz", golden)
    save_references(twin, model, None, batches, RunDir(run_dir))

    cells = run_dir / "cells"
    with torch.no_grad():
        fp32 = {k: model(torch.from_numpy(v)).double().numpy() for k, v in batches.items()}
    _write_cell(cells, "c-torch", fp32, artifact="torch", exporter="native", runtime="torch")
    keras_like = {k: v + 1e-7 for k, v in fp32.items()}
    _write_cell(cells, "c-keras", keras_like, artifact="keras", exporter="native", runtime="tf-function")
    _write_cell(cells, "c-ort", sens.ort_outputs(good, batches), artifact="torch-script", runtime="ort-cpu")
    _write_cell(cells, "c-ort-2", None, artifact="torch-script", runtime="ort-cpu", batch=8)  # timing only
    _write_cell(cells, "c-broken", sens.ort_outputs(broken, batches), artifact="broken",
                exporter="torch-dynamo", runtime="ort-cpu")
    _write_cell(cells, "c-failed", None, artifact="torch-script", runtime="openvino", status="failed",
                error="RuntimeError: boom")
    _write_cell(cells, "c-skipped", None, artifact="torch-script", runtime="ort-cuda", device="cuda",
                status="skipped", error="no CUDA device")
    for prec in ("bf16", "f32"):
        outs, settings = _openvino(good, batches, prec)
        _write_cell(run_dir / f"cells_ov_{prec}", f"ov-{prec}", outs, artifact="torch-script",
                    runtime="openvino", runtime_settings=json.dumps(settings))
    return {"dir": run_dir, "golden": golden}


@pytest.fixture
def scratch(run, request):
    """A fresh cells folder inside the run directory (parity tables read cells by folder name)."""
    import shutil

    folder = run["dir"] / f"scratch_{request.node.name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def table(run):
    return parity_table(run["dir"])


def _rows(df, artifact, runtime):
    return df[(df.artifact == artifact) & (df.runtime == runtime)]


def _cells(df):
    """The rows of cells (the goldens' own rows against the NumPy reference left out)."""
    return df[df.runtime != REFERENCE_RUNTIME]


def test_the_golden_is_checked_against_the_numpy_reference(table, run):
    ref = table[table.runtime == REFERENCE_RUNTIME]
    assert sorted(ref.inputs) == sorted(run["golden"]) and set(ref.artifact) == {"golden"}
    assert set(ref.verdict) == {"PASS"} and set(ref.profile) == {"fp64"} and ref.max_abs.max() <= 1e-10
    assert not _cells(table).error.str.contains("golden failed").any()


def test_columns_and_one_row_per_batch(table, run):
    assert list(table.columns) == PARITY_COLUMNS
    ort = _rows(table, "torch-script", "ort-cpu")
    assert sorted(ort.inputs) == sorted(run["golden"])
    assert set(ort.verdict) == {"PASS"} and (ort.max_abs <= 1e-5).all()
    assert set(ort.profile) == {"fp32"} and set(ort.run_id) == {"r1"}


def test_broken_artifact_fails_and_names_the_lstm(table):
    broken = _rows(table, "broken", "ort-cpu")
    assert "FAIL" in set(broken.verdict)
    assert set(broken[broken.verdict == "FAIL"].first_divergent_layer) == {"lstm"}
    assert set(broken[broken.verdict == "PASS"].first_divergent_layer) <= {""}


def test_failed_and_skipped_cells(table):
    err = _rows(table, "torch-script", "openvino")
    assert list(err.verdict) == ["ERROR"] and "boom" in err.error.iloc[0]
    skip = _rows(table, "torch-script", "ort-cuda")
    assert list(skip.verdict) == ["SKIP"] and "CUDA" in skip.error.iloc[0]
    assert overall_verdict(table) == "FAIL"
    assert overall_verdict(table[table.verdict.isin(["PASS", "SKIP"])]) == "PASS"


def test_openvino_bf16_is_detected_and_judged_by_bf16(run):
    df = _cells(parity_table(run["dir"], cells="cells_ov_bf16"))
    assert set(df.profile) == {"bf16"} and "bfloat16" in df.profile_reason.iloc[0]
    assert set(df.verdict) == {"PASS"}
    assert df.max_abs.max() > 1e-5  # bf16 really is less exact: fp32 would have failed it
    outs = np.load(run["dir"] / "cells_ov_bf16" / "ov-bf16.outputs.npz")
    assert any(compare(run["golden"][k], outs[k], "fp32")["verdict"] == "FAIL" for k in outs.files)


def test_openvino_f32_is_judged_fp32_and_passes_at_1e5(run):
    df = _cells(parity_table(run["dir"], cells="cells_ov_f32"))
    assert set(df.profile) == {"fp32"} and set(df.verdict) == {"PASS"}
    assert df.max_abs.max() <= 1e-5


def test_cross_table(run):
    cross = parity_cross_table(run["dir"])
    assert list(cross.columns) == CROSS_COLUMNS
    tk = cross[cross.kind == "torch-vs-keras"]
    assert set(tk.a) == {"torch@torch"} and set(tk.b) == {"keras@tf-function"} and set(tk.verdict) == {"PASS"}
    ex = cross[cross.kind == "exporter-vs-exporter"]
    assert set(ex.a) == {"broken@ort-cpu"} and set(ex.b) == {"torch-script@ort-cpu"}
    assert "FAIL" in set(ex.verdict)


def test_missing_golden_and_corrupt_outputs_are_errors(run, scratch):
    cells = scratch
    _write_cell(cells, "a", {"val": np.zeros((1, 2))}, twin="nope", artifact="x", runtime="ort-cpu")
    _write_cell(cells, "b", None, artifact="y", runtime="ort-cpu")
    (cells / "b.outputs.npz").write_bytes(b"not a zip")
    (cells / "c.json").write_text("{not json")
    df = _cells(parity_table(run["dir"], cells=cells.name))
    assert set(df.verdict) == {"ERROR"} and len(df) == 3
    assert df.error.str.contains("missing").any() and df.error.str.contains("unreadable").sum() == 2


@pytest.mark.slow
def test_run_parity_only_through_the_runtime_registry(run):
    """Parity alone: each runtime in its own process, real adapters, same table and verdicts."""
    from twinbench.commands.parity import parity_only as run_parity_only

    df, verdict = run_parity_only(run["dir"], runtimes=["ort-cpu", "openvino", "torch"])
    assert verdict == "FAIL" and list(df.columns) == PARITY_COLUMNS
    ok = df[df.artifact.isin(["torch-script", "torch"])]
    assert set(ok.runtime) == {"ort-cpu", "openvino", "torch"}
    assert set(ok.verdict) == {"PASS"} and set(ok.profile) == {"fp32"} and ok.max_abs.max() <= 1e-5
    broken = df[(df.artifact == "broken") & (df.verdict == "FAIL")]
    assert set(broken.runtime) == {"ort-cpu", "openvino"} and set(broken.first_divergent_layer) == {"lstm"}

    df, verdict = run_parity_only(run["dir"], runtimes=["openvino"],
                                  settings={"openvino": {"inference_precision": "bf16"}})
    good = df[df.artifact == "torch-script"]
    assert set(good.profile) == {"bf16"} and set(good.verdict) == {"PASS"} and good.max_abs.max() > 1e-5


def test_run_parity_only_rejects_bad_input(run, tmp_path):
    from twinbench.commands.parity import parity_only as run_parity_only
    from twinbench.core.errors import ConfigError, RunDirError

    with pytest.raises(RunDirError, match="manifest.json: missing"):
        run_parity_only(tmp_path)
    with pytest.raises(ConfigError, match="unknown runtime .nope."):
        run_parity_only(run["dir"], runtimes=["nope"])


@pytest.mark.gpu
@pytest.mark.parametrize("tf32, profile", [(True, "tf32"), (False, "fp32")])
def test_cuda_tf32_is_detected_from_runtime_settings(run, scratch, tf32, profile):
    """torch on CUDA with TF32 allowed is judged by tf32, with TF32 off by fp32 (and passes it)."""
    from twinbench.bench.runtimes import RUNTIMES, LoadOptions
    from twinbench.bench.parity.table import find_artifact

    art = find_artifact(run["dir"], TWIN, "torch")
    batches = dict(np.load(run["dir"] / "artifacts" / TWIN / "parity_inputs.npz"))
    session = RUNTIMES["torch"].load(art, LoadOptions(device="cuda", run_dir=str(run["dir"]),
                                                       settings={"allow_tf32": tf32}))
    try:
        outs = {k: np.asarray(session.fetch(session.bind({"tokens": v})())[0], dtype=np.float64)
                for k, v in batches.items()}
        info = session.info()
    finally:
        session.close()
    _write_cell(scratch, "gpu", outs, artifact="torch", exporter="native", runtime="torch", device="cuda",
                runtime_settings=json.dumps(info, default=str))
    df = _cells(parity_table(run["dir"], cells=scratch.name))
    assert set(df.profile) == {profile} and set(df.verdict) == {"PASS"}


def test_worker_side_files_and_per_batch_errors(run, scratch):
    """`.spec.json`/`.outputs.json` beside a cell are not rows; a batch the runtime could not run is a
    FAIL carrying the worker's per-batch error."""
    golden = run["golden"]
    outs = {k: v for k, v in golden.items() if k != "long"}
    _write_cell(scratch, "w", outs, artifact="torch-script", runtime="ort-cpu")
    (scratch / "w.outputs.json").write_text(json.dumps({"inputs": "x", "errors": {"long": "seq axis frozen"}}))
    (scratch / "w.spec.json").write_text(json.dumps({"cell_id": "w"}))
    df = _cells(parity_table(run["dir"], cells=scratch.name))
    assert len(df) == len(golden)
    long = df[df.inputs == "long"].iloc[0]
    assert long.verdict == "FAIL" and "seq axis frozen" in long.error
    assert set(df[df.inputs != "long"].verdict) == {"PASS"}


def test_keras_sourced_cells_are_judged_against_the_keras_weights(run, tmp_path):
    """golden.keras.npz (Keras weights in float64 torch) is the reference of keras/tf2onnx artifacts;
    the `weights` cross row shows how far the two frameworks' weights are apart."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(run["dir"] / "artifacts", run_dir / "artifacts")
    (run_dir / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "run_id": "r2", "status": "complete", "config": {}}))
    shifted = {k: v + 0.5 for k, v in run["golden"].items()}   # "Keras trained elsewhere"
    save_golden(run_dir / "artifacts" / TWIN / "golden.keras.npz", shifted)
    cells = run_dir / "cells"
    _write_cell(cells, "k", shifted, artifact="keras", exporter="native", source="keras", runtime="tf-function")
    _write_cell(cells, "t", run["golden"], artifact="torch", exporter="native", source="torch", runtime="torch")
    df = parity_table(run_dir)
    skip = df[(df.runtime == REFERENCE_RUNTIME) & (df.artifact == "golden.keras")]
    assert list(skip.verdict) == ["SKIP"] and "no reference outputs" in skip.error.iloc[0]  # made by hand
    df = _cells(df)
    assert set(df.verdict) == {"PASS"}
    assert "golden.keras.npz" in df[df.artifact == "keras"].profile_reason.iloc[0]
    cross = parity_cross_table(run_dir)
    weights = cross[cross.kind == "weights"]
    assert len(weights) == len(shifted) and weights.max_abs.max() == pytest.approx(0.5)
    assert set(cross[cross.kind == "torch-vs-keras"].verdict) == {"FAIL"}


def test_cells_not_meant_for_parity_give_no_rows(run, scratch):
    """A failed cell whose spec asked for no parity outputs (calibration, timing-only) is not a
    parity ERROR; one that asked for them is."""
    _write_cell(scratch, "cal", None, twin="_calibration", artifact="calibration-add", runtime="ort-cpu",
                status="failed", error="boom")
    (scratch / "cal.spec.json").write_text(json.dumps({"parity_inputs": None}))
    _write_cell(scratch, "p", None, artifact="torch-script", runtime="ort-cpu", status="failed", error="crash")
    (scratch / "p.spec.json").write_text(json.dumps({"parity_inputs": "artifacts/lstm/parity_inputs.npz"}))
    df = _cells(parity_table(run["dir"], cells=scratch.name))
    assert list(df.verdict) == ["ERROR"] and list(df.error) == ["crash"]
    (scratch / "p2.json").write_text((scratch / "p.json").read_text().replace('"failed"', '"ok"'))
    (scratch / "p.json").unlink()
    (scratch / "p.spec.json").rename(scratch / "p2.spec.json")
    df = _cells(parity_table(run["dir"], cells=scratch.name))
    assert list(df.verdict) == ["ERROR"] and "no parity outputs" in df.error.iloc[0]
