"""Every twin x exporter: a checked ONNX file with dynamic axes that matches its source framework."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exporters_testlib import built, reference, request_for, shapes_for, tokens
from twinbench.core.errors import ConfigError, ExportError
from twinbench.exporters import EXPORTERS, ExportFailure, ExportRequest, export_all, get_exporter

pytestmark = pytest.mark.slow  # dynamo export takes seconds per model


def test_file_passes_checker_and_has_contract_io(exported, run_dir: Path) -> None:
    import onnx

    b, art = exported
    path = art.abspath(run_dir)
    assert path.is_file() and Path(str(path) + ".json").is_file()
    assert art.path == f"artifacts/{b.twin.name}/{art.exporter}.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("tokens", "logits")
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    if b.twin.fixed_length:
        assert dims[1].dim_value == b.twin.fixed_length
    else:
        assert dims[1].dim_param == "seq"
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_metadata_and_sidecar(exported, run_dir: Path) -> None:
    import onnx

    from twinbench.exporters.artifact import Artifact

    b, art = exported
    props = {p.key: p.value for p in onnx.load(str(art.abspath(run_dir))).metadata_props}
    assert props["twinbench.twin"] == b.twin.name
    assert props["twinbench.exporter"] == art.exporter
    assert props["twinbench.source"] == art.source
    assert props["twinbench.weights_sha256"] == art.meta["weights_hash"] and len(props["twinbench.weights_sha256"]) == 64
    assert props["twinbench.version"]
    side = Artifact.read_sidecar(str(art.abspath(run_dir)) + ".json")
    assert json.loads(json.dumps(art.to_dict(), default=str)) == side.to_dict()
    m = art.meta
    assert m["opset"] == 18 and m["bytes"] > 0 and m["node_count"] == sum(m["op_histogram"].values())
    assert m["seconds"] > 0
    assert m["flops"] > 0 or m["flops_skipped_nodes"] > 0  # RNN Loops (tf2onnx GRU) may hide shapes
    assert m["inputs"][0]["dtype"] == "int64" and m["outputs"][0]["dtype"] == "float32"
    assert m["versions"]["onnx"]


def test_runs_in_ort_like_source(exported, run_dir: Path) -> None:
    import onnxruntime as ort

    b, art = exported
    sess = ort.InferenceSession(str(art.abspath(run_dir)), providers=["CPUExecutionProvider"])
    for batch, seq in shapes_for(b.twin):
        x = tokens(batch, seq, seed=batch * 100 + seq)
        got = sess.run(["logits"], {"tokens": x})[0]
        want = reference(b, art.source, x)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5, (batch, seq)


def test_runs_in_openvino_like_source(exported, run_dir: Path) -> None:
    """OpenVINO reads every file (its ONNX reader is stricter than ORT's about Loop bodies)."""
    import openvino as ov

    b, art = exported
    compiled = ov.Core().compile_model(str(art.abspath(run_dir)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for batch, seq in shapes_for(b.twin):
        x = tokens(batch, seq, seed=batch * 100 + seq)
        got = compiled([x])[0]
        assert np.abs(got - reference(b, art.source, x)).max() <= 1e-5, (batch, seq)


def test_torch_and_keras_twins_agree_so_all_files_compare(exported) -> None:
    """Sanity: the reference pair itself agrees, so a tf2onnx vs torch-file gap means an export bug."""
    b, _ = exported
    x = tokens(3, b.twin.fixed_length or 7)
    assert np.abs(reference(b, "torch", x) - reference(b, "keras", x)).max() <= 1e-4


@pytest.mark.parametrize("name", list(EXPORTERS))
@pytest.mark.parametrize("opset", [5, 99])
def test_bad_opset_is_config_error(name: str, opset: int, run_dir: Path) -> None:
    req = request_for("tiny-lstm", run_dir, opset=opset)
    with pytest.raises(ConfigError, match="opset"):
        EXPORTERS[name](req)
    with pytest.raises(ConfigError, match="opset"):
        export_all(req, [name])


def test_request_validation(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="opset"):
        request_for("tiny-lstm", run_dir, opset="18")
    with pytest.raises(ConfigError, match="example_batch"):
        request_for("tiny-lstm", run_dir, example_batch=1)
    with pytest.raises(ConfigError, match="unknown exporter"):
        get_exporter("nope")


def test_export_all_records_failures(run_dir: Path, tmp_path: Path) -> None:
    """An exporter that crashes becomes an ExportFailure; the others still produce artifacts."""
    import torch

    b = built("tiny-lstm")

    class Broken(torch.nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return torch.linalg.svd(tokens.float()).S  # not exportable to ONNX

    req = ExportRequest(twin=b.twin, torch_model=Broken(), keras_model=b.keras_model,
                        out_dir=tmp_path / "artifacts" / "tiny-lstm", run_dir=tmp_path)
    results = export_all(req, ["torch-script", "tf2onnx"])
    assert isinstance(results[0], ExportFailure) and results[0].name == "torch-script"
    assert "svd" in results[0].error and "\n" not in results[0].error
    assert not isinstance(results[1], ExportFailure)


@pytest.mark.parametrize("name", ["torch-dynamo", "torch-script"])
def test_unsupported_op_is_named(name: str, tmp_path: Path) -> None:
    import torch

    b = built("tiny-lstm")

    class Broken(torch.nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return torch.linalg.svd(tokens.float()).S

    req = ExportRequest(twin=b.twin, torch_model=Broken(), keras_model=b.keras_model,
                        out_dir=tmp_path / "a", run_dir=tmp_path)
    with pytest.raises(ExportError, match="svd") as info:
        EXPORTERS[name](req)
    assert "\n" not in str(info.value)


def test_second_dynamo_export_keeps_seq_dynamic(tmp_path: Path) -> None:
    """Regression: torch caches the RNN dispatch, which specialised seq on the 2nd export per process."""
    import onnx

    for i in range(2):
        req = request_for("tiny-lstm", tmp_path)
        art = EXPORTERS["torch-dynamo"](ExportRequest(**{**req.__dict__, "out_dir": tmp_path / f"a{i}"}))
        dims = onnx.load(str(art.abspath(tmp_path))).graph.input[0].type.tensor_type.shape.dim
        assert dims[1].dim_param == "seq"


@pytest.mark.parametrize("name", ["lstm", "bilstm", "tagger"])
def test_stacked_lstms_export_with_dynamic_seq_every_time(name: str, tmp_path: Path) -> None:
    """Textbook sizes stack two LSTM layers: each export in the process must keep `seq` dynamic and
    match torch at other lengths (torch 2.13 specialised it on the 2nd export before the cache reset)."""
    import onnxruntime as ort
    import torch

    from twinbench.models.registry import get_twin

    twin = get_twin(name, vocab_size=50, num_layers=2)
    model = twin.build_torch(twin.config).eval()
    for i in range(2):
        req = ExportRequest(twin=twin, torch_model=model, keras_model=None, out_dir=tmp_path / f"a{i}",
                            run_dir=tmp_path)
        art = EXPORTERS["torch-dynamo"](req)
        sess = ort.InferenceSession(str(art.abspath(tmp_path)), providers=["CPUExecutionProvider"])
        for seq in (3, 29):
            x = tokens(2, seq, vocab=50, seed=seq)
            with torch.no_grad():
                want = model(torch.from_numpy(x)).numpy()
            assert np.abs(sess.run(["logits"], {"tokens": x})[0] - want).max() <= 1e-5, (i, seq)
