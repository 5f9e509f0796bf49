"""A user's ONNX files (issue 23): several inputs (roles, consistent feeds), parity against a
reference the user gives (original ONNX, golden .npz) or a reference runtime, the precision read
from the file. Real `transformers` BERT classifiers built here (random init, small config, nothing
downloaded), exported with torch.onnx.export, run through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_reliability import _env, one_line_error  # tests/ is on sys.path (rootdir conftest)
from twinbench.bench.feeds import from_tokens, make_feeds, pack, unpack
from twinbench.core.errors import ConfigError
from twinbench.exporters.onnx_inputs import InputSpec, embedding_rows, input_roles, role_of_name
from twinbench.exporters.precision import graph_precision

VOCAB = 300

FAST = """
calibration = false
batches = [1, 4]
out_dir = "runs"
[timing]
min_iters = 5
min_s = 0.05
max_s = 0.3
warmup_s = 0.02
repeats = 1
[load]
duration_s = 0.5
streams = [1]
max_batch = [4]
samples = 32
"""


def tb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, cwd=cwd,
                          env={**_env(cwd), "TWINBENCH_HISTORY": "off"}, timeout=900)


def export_bert(path: Path, inputs: tuple[str, ...]) -> Path:
    """A `transformers` BertForSequenceClassification (random init, 2 layers of 32) exported by
    torch.onnx.export (TorchScript) with the inputs a Hugging Face export has."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, num_labels=2, attn_implementation="eager")
    bert = BertForSequenceClassification(cfg).eval()

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.bert(**dict(zip(inputs, args))).logits

    ids = torch.randint(2, VOCAB, (2, 8))
    example = tuple(ids if n == "input_ids" else torch.ones_like(ids) if n == "attention_mask" else
                    torch.zeros_like(ids) for n in inputs)
    axes = {n: {0: "batch", 1: "seq"} for n in inputs}
    torch.onnx.export(Classifier().eval(), example, str(path), dynamo=False, input_names=list(inputs),
                      output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17)
    return path


@pytest.fixture(scope="module")
def berts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bert2.onnx (input_ids + attention_mask), bert3.onnx (+ token_type_ids), and copies of bert2:
    one weight nudged by 1e-3, fp16 (ONNX Runtime's converter, fp32 I/O kept), int8 (dynamic)."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from twinbench.exporters.fp16 import convert_fp16

    d = tmp_path_factory.mktemp("berts")
    export_bert(d / "bert2.onnx", ("input_ids", "attention_mask"))
    export_bert(d / "bert3.onnx", ("input_ids", "attention_mask", "token_type_ids"))
    model = onnx.load(str(d / "bert2.onnx"))
    weight = next(t for t in model.graph.initializer if t.name.endswith("classifier.weight"))
    nudged = numpy_helper.to_array(weight).copy()
    nudged.flat[0] += np.float32(1e-3)
    weight.CopyFrom(numpy_helper.from_array(nudged, weight.name))
    onnx.save(model, str(d / "bert2-nudged.onnx"))
    onnx.save(convert_fp16(onnx.load(str(d / "bert2.onnx"))), str(d / "bert2-fp16.onnx"))
    quantize_dynamic(str(d / "bert2.onnx"), str(d / "bert2-int8.onnx"), weight_type=QuantType.QInt8)
    (d / "fast.toml").write_text(FAST)
    return d


def two_inputs(path: Path, second: str, dtype: int | None = None) -> Path:
    """A tiny graph: token ids through an embedding table, plus a second input named `second`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["emb"]),
         helper.make_node("Cast", [second], ["m"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["m", "axis"], ["m3"]),
         helper.make_node("Mul", ["emb", "m3"], ["masked"]),
         helper.make_node("ReduceSum", ["masked", "axis1"], ["out"], keepdims=0)],
        "two", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
                helper.make_tensor_value_info(second, dtype or TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])],
        [table, numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# roles and feeds (fast) -----------------------------------------------------------------------------

def test_roles_are_told_from_the_names_exporters_write() -> None:
    assert [role_of_name(n) for n in ("input_ids", "attention_mask", "token_type_ids", "position_ids")] == \
        ["tokens", "mask", "token_types", "positions"]
    assert [role_of_name(n) for n in ("token_ids", "padding_mask", "segment_ids", "input_word_ids:0",
                                      "input_mask", "input_type_ids")] == \
        ["tokens", "mask", "token_types", "tokens", "mask", "token_types"]
    assert role_of_name("pixel_values") is None


def test_an_input_whose_role_cannot_be_told_is_refused_naming_it(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(two_inputs(tmp_path / "m.onnx", "weights")))
    with pytest.raises(ConfigError, match=r"input 'weights' .*cannot be told.*\[onnx_inputs\] weights = "):
        input_roles(model, label="onnx: m.onnx")
    roles = input_roles(model, {"weights": "mask"})
    assert [(r.name, r.role) for r in roles] == [("input_ids", "tokens"), ("weights", "mask")]
    with pytest.raises(ConfigError, match="all take the role 'tokens'"):
        input_roles(model, {"weights": "tokens"})
    fl = onnx.load(str(two_inputs(tmp_path / "f.onnx", "token_type_ids", onnx.TensorProto.FLOAT)))
    with pytest.raises(ConfigError, match="token_types input must be int64 or int32"):
        input_roles(fl)
    assert embedding_rows(model, "input_ids") == 10


def test_the_cli_refuses_it_before_any_work_and_takes_a_declaration(tmp_path: Path) -> None:
    two_inputs(tmp_path / "m.onnx", "weights")
    proc = tb(tmp_path, "run", "--onnx", "m.onnx", "-r", "ort-cpu", "--out", "runs", "--check")
    one_line_error(proc, 2, "input 'weights'")
    assert "[onnx_inputs] weights =" in proc.stderr and not (tmp_path / "runs").exists()
    ok = tb(tmp_path, "run", "--onnx", "m.onnx", "-r", "ort-cpu", "--out", "runs", "--check",
            "--onnx-input", "weights=mask")
    assert ok.returncode == 0 and "config: OK" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "c.toml").write_text('onnx = ["m.onnx"]\nruntimes = ["ort-cpu"]\n[onnx_inputs]\nweights = "mask"\n')
    assert tb(tmp_path, "run", "c.toml", "--check").returncode == 0
    (tmp_path / "typo.toml").write_text('onnx = ["m.onnx"]\n[onnx_inputs]\nweights = "mask"\nwieghts = "mask"\n')
    one_line_error(tb(tmp_path, "run", "typo.toml", "--check"), 2, "'wieghts' is no input")
    (tmp_path / "bad.toml").write_text('onnx = ["m.onnx"]\n[onnx_inputs]\nweights = "maks"\n')
    one_line_error(tb(tmp_path, "run", "bad.toml", "--check"), 2, "onnx_inputs.weights: unknown value 'maks'")


def test_feeds_agree_with_the_padding_of_the_token_ids() -> None:
    roles = (InputSpec("input_ids", "tokens", "int64", ("b", "s")), InputSpec("attention_mask", "mask", "int32"),
             InputSpec("token_type_ids", "token_types", "int64"), InputSpec("position_ids", "positions", "int64"),
             InputSpec("segments", "segments", "int64"))
    feeds = make_feeds(roles, 32, 20, 1000, seed=3)
    ids, mask = feeds["input_ids"], feeds["attention_mask"]
    assert ids.shape == (32, 20) and mask.dtype == np.int32
    lengths = mask.sum(axis=1)
    assert lengths[0] == 20 and lengths.min() < 20 and lengths.min() >= 5  # realistic padding, some rows shorter
    np.testing.assert_array_equal(mask.astype(bool), ids != 0)  # 1 exactly on the real tokens
    assert (ids[mask == 1] >= 2).all()  # no PAD or UNK among real tokens
    assert not feeds["token_type_ids"].any()
    np.testing.assert_array_equal(feeds["position_ids"], np.broadcast_to(np.arange(20), (32, 20)))
    seg = feeds["segments"]
    assert (seg[mask == 0] == 0).all() and seg[0, 9] == 0 and seg[0, 10] == 1
    again = make_feeds(roles, 32, 20, 1000, seed=3)
    assert all(np.array_equal(feeds[k], again[k]) for k in feeds)
    # a twin's cell: one unpadded `tokens` input, as before
    twin = make_feeds((), 4, 6, 40, seed=0)
    assert list(twin) == ["tokens"] and twin["tokens"].min() >= 2
    # parity files keep one array per batch and input
    packed = pack({"val": feeds})
    assert set(unpack(packed)["val"]) == set(feeds)
    one = from_tokens((InputSpec("positions", "positions", "int64", (1, "s")), *roles[:1]), ids[:3])
    assert one["positions"].shape == (1, 20)


def test_a_reference_that_takes_other_inputs_is_refused_before_any_work(berts: Path) -> None:
    proc = tb(berts, "run", "--onnx", "bert3.onnx", "--reference", "bert2.onnx", "-r", "ort-cpu", "--check")
    one_line_error(proc, 2, "a reference must take the same inputs")
    both = tb(berts, "run", "--onnx", "bert2.onnx", "--reference", "bert2.onnx", "--golden", "x.npz", "--check")
    one_line_error(both, 2, "not both")
    one_line_error(tb(berts, "run", "--onnx", "bert2.onnx", "--reference-runtime", "onnxrt", "--check"), 2,
                   "onnxrt")


def test_precision_is_read_from_the_graph(berts: Path) -> None:
    import onnx

    assert graph_precision(onnx.load(str(berts / "bert2.onnx")))[0] == "fp32"
    precision, why = graph_precision(onnx.load(str(berts / "bert2-fp16.onnx")))
    assert precision == "fp16" and "fp16" in why
    precision, why = graph_precision(onnx.load(str(berts / "bert2-int8.onnx")))
    assert precision == "int8" and "MatMulInteger" in why


def test_the_reference_runs_in_float64_with_erf_kept_in_fp32(berts: Path) -> None:
    import onnx
    import onnxruntime as ort

    from twinbench.bench.parity.fp64 import load_reference, run_session

    ref = load_reference(onnx.load(str(berts / "bert2.onnx")))
    assert ref.precision == "fp64" and ref.fp32_ops == ("Erf",)  # ORT CPU has no float64 Erf
    feeds = make_feeds(input_roles(onnx.load(str(berts / "bert2.onnx"))), 4, 12, VOCAB, seed=1)
    y64 = run_session(ref.session, feeds)[0]
    y32 = ort.InferenceSession(str(berts / "bert2.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert y64.dtype == np.float64 and np.abs(y64 - y32).max() < 1e-6


# through the CLI (slow) -----------------------------------------------------------------------------

def _run_dir(cwd: Path, proc: subprocess.CompletedProcess[str]) -> Path:
    return cwd / Path(proc.stdout.split("report: ")[1].splitlines()[0].strip()).parent


def _parity(run_dir: Path):
    import pandas as pd

    return pd.read_parquet(run_dir / "parity.parquet")


@pytest.mark.slow
def test_a_transformers_bert_with_two_and_three_inputs_is_measured_and_judged(berts: Path) -> None:
    """input_ids + attention_mask (and + token_type_ids) on ort-cpu and openvino, single-stream and
    offline; without a reference ONNX, OpenVINO is judged against ORT CPU (the reference runtime)."""
    import pandas as pd

    proc = tb(berts, "run", "fast.toml", "--onnx", "bert2.onnx", "--onnx", "bert3.onnx", "-r", "ort-cpu",
              "-r", "openvino", "--scenario", "single-stream", "--scenario", "offline", "--out", "runs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "parity: PASS" in proc.stdout
    run_dir = _run_dir(berts, proc)
    results = pd.read_parquet(run_dir / "results.parquet")
    ok = results[results["status"] == "ok"]
    assert {(a, r) for a, r in zip(ok["artifact"], ok["runtime"])} == {
        (a, r) for a in ("bert2", "bert3") for r in ("ort-cpu", "openvino")}
    load = pd.read_parquet(run_dir / "load.parquet")
    offline = load[(load["scenario"] == "offline") & load["headline"].astype(bool)]
    assert len(offline) == 4 and (offline["achieved_qps"] > 0).all(), load
    parity = _parity(run_dir)
    judged = parity[parity["runtime"] == "openvino"]
    assert set(judged["verdict"]) == {"PASS"} and set(judged["artifact"]) == {"bert2", "bert3"}
    assert {"padded", "one_token", "full_length"} <= set(judged["inputs"])
    assert judged["profile_reason"].str.contains("ort-cpu \\(the reference runtime\\)").all()
    own = parity[parity["runtime"] == "ort-cpu"]
    assert set(own["verdict"]) == {"SKIP"} and own["error"].str.contains("is the reference runtime").all()
    spec = json.loads(next((run_dir / "cells").glob("user.bert3.ort-cpu*.spec.json")).read_text())
    assert [(i["name"], i["role"]) for i in spec["inputs"]] == [
        ("input_ids", "tokens"), ("attention_mask", "mask"), ("token_type_ids", "token_types")]


@pytest.mark.slow
def test_copies_are_judged_against_the_original_by_the_profile_their_weights_call_for(berts: Path) -> None:
    """--reference bert2.onnx (run in float64): a weight nudged by 1e-3 FAILs and names the node;
    the fp16 copy gets the fp16 profile, the int8 copy the int8 profile, both PASS."""
    proc = tb(berts, "run", "fast.toml", "--onnx", "bert2-nudged.onnx", "--onnx", "bert2-fp16.onnx",
              "--onnx", "bert2-int8.onnx", "--reference", "bert2.onnx", "-r", "ort-cpu", "-r", "openvino",
              "-b", "1", "--out", "runs")
    assert proc.returncode == 1 and "parity: FAIL" in proc.stdout, proc.stdout + proc.stderr
    run_dir = _run_dir(berts, proc)
    parity = _parity(run_dir)
    nudged = parity[parity["artifact"] == "bert2-nudged"]
    assert set(nudged["verdict"]) == {"FAIL"} and set(nudged["runtime"]) == {"ort-cpu", "openvino"}
    assert set(nudged["first_divergent_layer"]) == {"Gemm '/bert/classifier/Gemm' -> logits"}
    assert "first divergent" in (run_dir / "report.md").read_text()
    again = tb(berts, "parity", str(run_dir), "-r", "openvino")  # the run directory alone judges again
    assert again.returncode == 1 and "parity: FAIL" in again.stdout, again.stdout + again.stderr
    assert "bert2-nudged" in again.stdout and "bert2-fp16" in again.stdout
    for name, profile in (("bert2-fp16", "fp16"), ("bert2-int8", "int8")):
        rows = parity[parity["artifact"] == name]
        assert set(rows["profile"]) == {profile} and set(rows["verdict"]) == {"PASS"}, rows
        assert rows["profile_reason"].str.contains("read from the file").all()
        assert rows["profile_reason"].str.contains(r"reference ONNX bert2.onnx on ORT CPU \(fp64").all()
    side = json.loads((run_dir / "artifacts" / "user" / "bert2-fp16.onnx.json").read_text())
    assert side["precision"] == "fp16" and side["meta"]["reference"]["precision"] == "fp64"


@pytest.mark.slow
def test_a_golden_npz_of_inputs_and_outputs_judges_the_file(berts: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    feeds = {"input_ids": np.array([[5, 6, 7, 0], [8, 9, 0, 0]]), "attention_mask": np.array([[1, 1, 1, 0], [1, 1, 0, 0]])}
    logits = ort.InferenceSession(str(berts / "bert2.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.savez(tmp_path / "golden.npz", **feeds, logits=logits.astype(np.float64))
    np.savez(tmp_path / "wrong.npz", **feeds, logits=logits + 1e-3)
    np.savez(tmp_path / "gap.npz", input_ids=feeds["input_ids"], logits=logits)
    (tmp_path / "bert2.onnx").write_bytes((berts / "bert2.onnx").read_bytes())
    (tmp_path / "fast.toml").write_text(FAST)
    good = tb(tmp_path, "run", "fast.toml", "--onnx", "bert2.onnx", "--golden", "golden.npz", "-r", "openvino",
              "-b", "1")
    assert good.returncode == 0 and "parity: PASS" in good.stdout, good.stdout + good.stderr
    wrong = tb(tmp_path, "run", "fast.toml", "--onnx", "bert2.onnx", "--golden", "wrong.npz", "-r", "openvino",
               "-b", "1")
    assert wrong.returncode == 1 and "parity: FAIL" in wrong.stdout, wrong.stdout + wrong.stderr
    one_line_error(tb(tmp_path, "run", "fast.toml", "--onnx", "bert2.onnx", "--golden", "gap.npz", "--check"), 2,
                   "no array for ['attention_mask']")


def test_a_cell_with_several_inputs_is_self_contained_and_ships(berts: Path, tmp_path: Path) -> None:
    """The roles travel in the cell spec: a cell shipped to another 'node' (the Ray path: only the
    spec and the files it names) feeds every input and writes its parity outputs."""
    from twinbench.bench.cells import CellSpec, plan_cells
    from twinbench.bench.executors.shipping import land, outbound, run_shipped
    from twinbench.bench.parity.user import OnnxReference, attach_reference
    from twinbench.core.layout import RunDir
    from twinbench.exporters.user_onnx import from_user_onnx

    run_dir = tmp_path / "run"
    art = attach_reference(from_user_onnx(berts / "bert3.onnx", run_dir), run_dir, OnnxReference(), seq_len=12)
    assert art.meta["vocab_size"] == VOCAB and art.meta["reference"]["kind"] == "runtime"
    plan = {"warmup_iters": 1, "warmup_s": 0.0, "min_iters": 5, "min_s": 0.05, "max_s": 1.0, "repeats": 1}
    specs, skipped = plan_cells(run_dir, [art], ["openvino"], ["cpu"], [3], [12], [1], plan)
    (spec,) = specs
    assert not skipped and [i.role for i in spec.inputs] == ["tokens", "mask", "token_types"]
    assert CellSpec.from_dict(json.loads(spec.to_json())) == spec
    shipped = {name: path.read_bytes() for name, path in outbound(spec).items()}
    assert art.meta["parity_inputs"] in shipped
    row = land(spec, run_shipped(spec.to_dict(), shipped, timeout_s=300, tmp_root=str(tmp_path)), {"host": "node"})
    assert row["status"] == "ok", row["error"]
    with np.load(RunDir(run_dir).cell(spec.cell_id).outputs) as out:
        assert {"padded", "full_length", "one_token"} <= set(out.files) and out["padded"].shape == (16, 2)


@pytest.mark.slow
def test_an_fp16_or_int8_copy_of_a_twin_s_file_gets_its_own_profile(tmp_path: Path) -> None:
    """`parity RUN --onnx FILE --twin lstm`: an fp16 conversion (ONNX Runtime's converter, fp32 I/O
    kept) is judged by fp16, an int8 copy by int8, both against the twin's float64 golden."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from test_reliability import FAST as TWIN_FAST
    from twinbench.exporters.fp16 import convert_fp16

    (tmp_path / "u.toml").write_text('run_id = "twin"\n' + TWIN_FAST)
    made = tb(tmp_path, "run", "u.toml")
    assert made.returncode == 0, made.stdout + made.stderr
    run_dir = tmp_path / "runs" / "twin"
    exported = run_dir / "artifacts" / "lstm" / "torch-script.onnx"
    onnx.save(convert_fp16(onnx.load(str(exported)), keep_fp32=["LSTM"]), str(tmp_path / "half.onnx"))
    quantize_dynamic(str(exported), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gemm", "Gather"])
    for name, profile in (("half", "fp16"), ("int8", "int8")):
        proc = tb(tmp_path, "parity", str(run_dir), "--onnx", f"{name}.onnx", "--twin", "lstm", "-r", "ort-cpu",
                  "-r", "openvino", "--json")
        out = json.loads(proc.stdout)
        assert proc.returncode == 0 and out["parity"] == "PASS", proc.stdout + proc.stderr
        parity = _parity(next((run_dir / "judged").glob(f"{name}-*")))
        assert set(parity["profile"]) == {profile}, parity[["runtime", "profile", "verdict"]]
        assert parity["profile_reason"].str.contains("read from the file").all()
