"""Fuzz: ONNX files as users bring them, through `run --onnx ... --check`, a real `run --onnx` (a
worker measures it) and `parity RUN --onnx FILE --twin lstm` (judged against a real run's golden).

Models are built, not just corrupted: any number of inputs (none, one, two), any element type,
rank and dimensions (fixed, zero, symbolic, unknown), duplicate names (two inputs, an initializer
named like an input, two nodes writing one output), weights as external data (present, missing,
or pointing out of the folder), and two files with the same file name in different folders. Each
example reaches a verdict or one line with exit 2, never exit 3 or a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzlib import CASES, cli, fuzz_settings

pytestmark = pytest.mark.slow

ELEM = ["INT64", "INT64", "INT32", "FLOAT", "BOOL", "STRING", "FLOAT16"]
dims = st.lists(st.one_of(st.sampled_from([1, 2, 8, 0]), st.sampled_from(["batch", "seq", ""]), st.none()),
                min_size=0, max_size=3)


def _value_info(name: str, elem: str, shape: list | None) -> Any:
    from onnx import TensorProto, helper

    if shape is None:  # no shape at all (unknown rank)
        return helper.make_tensor_value_info(name, getattr(TensorProto, elem), None)
    return helper.make_tensor_value_info(name, getattr(TensorProto, elem), shape)


def build(data: st.DataObject, path: Path) -> Path:
    """A model drawn from the shapes users bring; saved at `path` (external data beside it when drawn)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_inputs = data.draw(st.sampled_from([1, 1, 1, 0, 2]), label="inputs")
    elems = [data.draw(st.sampled_from(ELEM), label="elem") for _ in range(n_inputs)]
    shapes = [data.draw(st.one_of(st.none(), dims), label="dims") for _ in range(n_inputs)]
    names = ["tokens", "tokens" if data.draw(st.booleans(), label="same-name") else "mask"][:n_inputs]
    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32), "table")
    inits = [table]
    if n_inputs and data.draw(st.integers(0, 5), label="init-named-like-input") == 0:
        inits.append(numpy_helper.from_array(np.zeros((1, 8), dtype=np.int64), names[0]))
    body = data.draw(st.sampled_from(["gather-mean", "gather-mean", "identity", "cast", "constant"]), label="body")
    nodes, out_type, out_shape = [], TensorProto.FLOAT, ["batch", 4]
    src = names[0] if n_inputs else "table"
    if body == "gather-mean" and n_inputs:
        nodes = [helper.make_node("Gather", ["table", src], ["emb"]),
                 helper.make_node("ReduceMean", ["emb"], ["out"], axes=[1], keepdims=0)]
    elif body == "cast" and n_inputs:
        nodes = [helper.make_node("Cast", [src], ["out"], to=TensorProto.FLOAT)]
        out_shape = None
    elif body == "constant":
        nodes = [helper.make_node("Identity", ["table"], ["out"])]
        out_shape = [10, 4]
    else:
        nodes = [helper.make_node("Identity", [src], ["out"])]
        out_type, out_shape = getattr(TensorProto, elems[0]) if n_inputs else TensorProto.FLOAT, None
    if data.draw(st.integers(0, 6), label="duplicate-output") == 0:
        nodes.append(helper.make_node("Identity", ["table"], ["out"]))
    graph = helper.make_graph(nodes, "fuzz", [_value_info(n, e, s) for n, e, s in zip(names, elems, shapes)],
                              [helper.make_tensor_value_info("out", out_type, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", data.draw(
        st.sampled_from([13, 13, 17, 7, 99]), label="opset"))])
    model.ir_version = data.draw(st.sampled_from([8, 8, 3, 12]), label="ir")
    path.parent.mkdir(parents=True, exist_ok=True)
    external = data.draw(st.sampled_from(["none", "none", "beside", "missing", "outside"]), label="external")
    if external == "none":
        onnx.save(model, str(path))
        return path
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    if external == "missing":
        (path.parent / "weights.bin").unlink()
    elif external == "outside":
        kept = onnx.load(str(path), load_external_data=False)
        for tensor in kept.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = "../weights.bin"
        (path.parent / "weights.bin").rename(path.parent.parent / "weights.bin")
        onnx.save(kept, str(path))
    return path


@fuzz_settings(12)
@given(data=st.data(), two=st.booleans(), action=st.sampled_from(["check", "check", "run", "judge"]))
def test_any_onnx_file_reaches_a_verdict_or_one_line(base_run: Path, data: st.DataObject, two: bool,
                                                     action: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tb-fuzz-onnx-") as tmp:
        work = Path(tmp)
        files = [build(data, work / "a" / "model.onnx")]
        if two and action != "judge":  # two files with one file name, in different folders
            files.append(build(data, work / "b" / "model.onnx"))
        CASES["onnx"] += len(files)
        onnx_args = [arg for f in files for arg in ("--onnx", str(f))]
        if action == "check":
            cli(work, "run", *onnx_args, "-r", "ort-cpu", "--check", "--out", "runs", allowed=(0, 2))
        elif action == "run":
            proc = cli(work, "run", *onnx_args, "-r", "ort-cpu", "--fast", "-b", "1", "-s", "8", "--out", "runs",
                       allowed=(0, 2, 4))
            if proc.returncode in (0, 4) and len(files) == 2:
                sidecars = list((work / "runs").glob("*/artifacts/user/*.onnx.json"))
                assert len(sidecars) == 2, sidecars  # neither file overwrote the other's artifact
        else:
            cli(work, "parity", str(base_run), "--onnx", str(files[0]), "--twin", "lstm", "-r", "ort-cpu",
                allowed=(0, 1, 2))
