"""The whole pipeline end to end on a small config: real training, exports, worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

NATIVE = {"torch", "keras"}
ONNX = {"torch-dynamo", "torch-script", "tf2onnx"}
RUNTIMES = {"torch", "tf-function", "keras-eager", "ort-cpu", "openvino"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    cfg = out / "small.toml"
    cfg.write_text(
        'batches = [1, 4]\n'
        '[training]\nepochs = 8\n'
        '[timing]\nwarmup_iters = 2\nmin_iters = 5\nmin_s = 0.05\nmax_s = 1.0\n'
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", str(cfg), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "report: " in proc.stdout
    report = Path(proc.stdout.split("report: ")[1].split()[0])
    assert report.is_file()
    return report.parent


def test_manifest_complete(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for lib in ("torch", "onnx", "onnxruntime", "openvino", "tf2onnx", "keras"):
        assert lib in manifest["versions"]
    assert manifest["machine"]["cpu_cores"] >= 1 and manifest["machine"]["fingerprint"]


def test_every_artifact_on_every_runtime(run_dir: Path) -> None:
    results = pd.read_parquet(run_dir / "results.parquet")
    ok = results[(results.status.isin(["ok", "invalid"])) & (results.twin == "lstm")]
    assert set(ok.artifact) >= NATIVE | ONNX, results[["artifact", "runtime", "status", "error"]]
    assert set(ok.runtime) >= RUNTIMES
    for runtime in ("ort-cpu", "openvino"):
        assert set(ok[ok.runtime == runtime].artifact) >= ONNX
    assert set(ok[ok.artifact == "keras"].runtime) >= {"tf-function", "keras-eager"}
    assert (ok.p50_ms > 0).all() and (ok.throughput_sps > 0).all()
    assert set(ok.batch) == {1, 4}


def test_parity_passes_fp32_at_1e_5(run_dir: Path) -> None:
    parity = pd.read_parquet(run_dir / "parity.parquet")
    fp32 = parity[parity.profile == "fp32"]
    assert len(fp32) and (fp32.verdict == "PASS").all(), fp32[fp32.verdict != "PASS"]
    assert fp32.max_abs.max() <= 1e-5


def test_both_twins_beat_chance(run_dir: Path) -> None:
    training = pd.read_parquet(run_dir / "training.parquet")
    last = training.sort_values("epoch").groupby("framework").tail(1)
    assert set(last.framework) == {"torch", "keras"}
    assert (last.val_acc >= 0.7).all(), last


def test_report_answers_three_questions(run_dir: Path) -> None:
    text = (run_dir / "report.md").read_text().lower()
    for word in ("parity", "speed", "training"):
        assert word in text
    assert (run_dir / "report.html").is_file()


def test_pretrained_frozen_embedding_reaches_both_frameworks_and_every_file(tmp_path: Path) -> None:
    """`--vectors` + `--freeze-embedding`: the trained twins still hold the file's rows, parity passes."""
    import numpy as np
    import torch

    from twinbench.models.vocab import Vocab

    vec = tmp_path / "words.vec"
    rows = {"good": [0.5, -0.25, 0.125], "bad": [-0.5, 0.25, 0.0], "notinvocab": [9.0, 9.0, 9.0]}
    vec.write_text(f"{len(rows)} 3\n" + "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "twinbench", "run", "--out", str(tmp_path), "-e", "torch-script", "-e", "tf2onnx",
         "-r", "ort-cpu", "-b", "1", "--epochs", "2", "--vectors", str(vec), "--freeze-embedding"],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = Path(proc.stdout.split("report: ")[1].split()[0]).parent
    manifest = json.loads((run / "manifest.json").read_text())
    cover = manifest["embeddings"]["classify"]
    assert (cover["found"], cover["dim"], cover["freeze"]) == (2, 3, True)
    vocab = Vocab.load(run / "data" / "classify" / "vocab.json")
    state = torch.load(run / "artifacts" / "lstm" / "torch.pt", weights_only=True)
    emb = next(v for k, v in state.items() if k.endswith("weight") and v.shape[1] == 3).numpy()
    matrix = np.load(run / "data" / "classify" / "embedding.npy")
    np.testing.assert_array_equal(emb, matrix)  # frozen: training left it alone
    np.testing.assert_array_equal(emb[vocab.ids("good")[0]], np.float32(rows["good"]))
    assert not emb[0].any()  # pad row zero
    parity = pd.read_parquet(run / "parity.parquet")
    assert len(parity) and (parity.verdict == "PASS").all(), parity[parity.verdict != "PASS"]


def test_params_table_explains_every_difference(run_dir: Path) -> None:
    params = pd.read_parquet(run_dir / "params.parquet")
    total = params[(params.twin == "lstm") & (params.layer == "total")].iloc[0]
    assert total.torch - total.keras == total.difference > 0 and "bias_hh" in total.why
    assert not params[params.difference != 0].why.str.startswith("unexplained").any()
    assert "## Twins" in (run_dir / "report.md").read_text()
