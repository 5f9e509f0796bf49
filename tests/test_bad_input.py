"""Property-based bad input through the CLI (issue 15): malformed configs, data, vectors and ONNX
files each give exit 2 and one line (or pass the check, exit 0), never a traceback or an internal
error, and never change an earlier run directory. Each example is a real `twinbench run --check`
subprocess (everything a run checks before training, nothing made), so examples stay few."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("TB_BAD_EXAMPLES", "8")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow], derandomize=True)

#: An earlier run directory every example must leave exactly as it was.
EARLIER = {"manifest.json": '{"status": "complete"}', "results.csv": "a,b\n1,2\n"}

VALID = {"twins": ["lstm"], "exporters": ["torch-script"], "runtimes": ["ort-cpu"], "out_dir": "runs",
         "training": {"epochs": 1}}

junk = st.one_of(st.text(max_size=12), st.integers(-3, 3), st.booleans(), st.none(),
                 st.lists(st.one_of(st.text(max_size=5), st.integers(-2, 2)), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(-2, 2), max_size=2),
                 st.floats(allow_nan=False, allow_infinity=False, min_value=-1e3, max_value=1e3))
#: Where junk goes: a top-level key, or a key of one section.
PLACES = ["twins", "runtimes", "exporters", "batches", "seq_lens", "threads", "opset", "run_id", "onnx",
          "twin_modules", "variants", "cell_timeout_s", "scenarios", "not_a_key",
          "data.source", "data.path", "data.size", "data.max_len", "data.val_fraction", "training.epochs",
          "timing.repeats", "timing.min_s", "embeddings.vectors", "embeddings.freeze", "load.qps"]


def _check(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TWINBENCH_CACHE": str(workdir / "cache"),
           "TWINBENCH_LOCK": str(workdir / "cache" / "bench.lock")}
    return subprocess.run([sys.executable, "-m", "twinbench", "run", *args, "--check"], capture_output=True,
                          text=True, cwd=workdir, env=env, timeout=120)


def _workdir() -> tempfile.TemporaryDirectory[str]:
    tmp = tempfile.TemporaryDirectory(prefix="tb-bad-")
    earlier = Path(tmp.name) / "runs" / "earlier"
    earlier.mkdir(parents=True)
    for name, text in EARLIER.items():
        (earlier / name).write_text(text)
    return tmp


def _snapshot(root: Path) -> dict[str, tuple[float, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def _assert_refused_or_fine(workdir: Path, proc: subprocess.CompletedProcess[str], before: dict) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert proc.returncode in (0, 2), (proc.returncode, out)
    if proc.returncode == 2:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
        assert len(errors) == 1, proc.stderr
    assert _snapshot(workdir / "runs") == before  # the earlier run untouched, no new run directory


@SETTINGS
@given(place=st.sampled_from(PLACES), value=junk)
def test_malformed_config_values(place: str, value: object) -> None:
    with _workdir() as tmp:
        workdir = Path(tmp)
        before = _snapshot(workdir / "runs")
        config = json.loads(json.dumps(VALID))
        section, _, key = place.rpartition(".")
        (config.setdefault(section, {}) if section else config)[key] = value
        (workdir / "c.json").write_text(json.dumps(config))
        _assert_refused_or_fine(workdir, _check(workdir, "c.json"), before)


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_malformed_config_files(raw: bytes) -> None:
    with _workdir() as tmp:
        workdir = Path(tmp)
        before = _snapshot(workdir / "runs")
        (workdir / "c.toml").write_bytes(raw)
        _assert_refused_or_fine(workdir, _check(workdir, "c.toml"), before)


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=300),
                     st.lists(st.text(max_size=20), max_size=6).map(lambda ls: "\n".join(ls).encode())),
       kind=st.sampled_from(["csv", "tsv", "jsonl"]))
def test_malformed_data_files(raw: bytes, kind: str) -> None:
    with _workdir() as tmp:
        workdir = Path(tmp)
        before = _snapshot(workdir / "runs")
        (workdir / f"d.{kind}").write_bytes(raw)
        config = {**VALID, "data": {"source": kind, "path": f"d.{kind}"}}
        (workdir / "c.json").write_text(json.dumps(config))
        _assert_refused_or_fine(workdir, _check(workdir, "c.json"), before)


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=200),
                     st.lists(st.text(max_size=30), min_size=1, max_size=5).map(lambda ls: "\n".join(ls).encode())))
def test_malformed_vectors_files(raw: bytes) -> None:
    with _workdir() as tmp:
        workdir = Path(tmp)
        before = _snapshot(workdir / "runs")
        (workdir / "v.vec").write_bytes(raw)
        _assert_refused_or_fine(workdir, _check(workdir, "-t", "lstm", "--vectors", "v.vec", "--out", "runs"),
                                before)


def _valid_onnx_bytes() -> bytes:
    from test_reliability import tiny_onnx  # tests/ is on sys.path (pytest rootdir conftest)

    with tempfile.TemporaryDirectory() as tmp:
        return tiny_onnx(Path(tmp) / "t.onnx").read_bytes()


@SETTINGS
@given(data=st.data())
def test_malformed_onnx_files(data: st.DataObject) -> None:
    good = _valid_onnx_bytes()
    how = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if how == "truncate":
        raw = good[: data.draw(st.integers(0, len(good) - 1))]
    elif how == "flip":
        i = data.draw(st.integers(0, len(good) - 1))
        raw = good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1:]
    else:
        raw = data.draw(st.binary(max_size=300))
    with _workdir() as tmp:
        workdir = Path(tmp)
        before = _snapshot(workdir / "runs")
        (workdir / "m.onnx").write_bytes(raw)
        _assert_refused_or_fine(workdir, _check(workdir, "--onnx", "m.onnx", "-r", "ort-cpu", "--out", "runs"),
                                before)
