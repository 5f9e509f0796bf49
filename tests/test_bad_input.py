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


def _refused_or_fine(files: dict[str, str | bytes], *args: str) -> None:
    """Write `files` into a fresh folder holding an earlier run, run `twinbench run ARGS --check` there:
    a pass (exit 0) or one line with exit 2, never a traceback, and the earlier run left untouched."""
    with _workdir() as tmp:
        workdir = Path(tmp)
        before = _snapshot(workdir / "runs")
        for name, content in files.items():
            (workdir / name).write_bytes(content.encode() if isinstance(content, str) else content)
        proc = _check(workdir, *args)
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
    config = json.loads(json.dumps(VALID))
    section, _, key = place.rpartition(".")
    (config.setdefault(section, {}) if section else config)[key] = value
    _refused_or_fine({"c.json": json.dumps(config)}, "c.json")


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_malformed_config_files(raw: bytes) -> None:
    _refused_or_fine({"c.toml": raw}, "c.toml")


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=300),
                     st.lists(st.text(max_size=20), max_size=6).map(lambda ls: "\n".join(ls).encode())),
       kind=st.sampled_from(["csv", "tsv", "jsonl"]))
def test_malformed_data_files(raw: bytes, kind: str) -> None:
    config = {**VALID, "data": {"source": kind, "path": f"d.{kind}"}}
    _refused_or_fine({f"d.{kind}": raw, "c.json": json.dumps(config)}, "c.json")


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=200),
                     st.lists(st.text(max_size=30), min_size=1, max_size=5).map(lambda ls: "\n".join(ls).encode())))
def test_malformed_vectors_files(raw: bytes) -> None:
    _refused_or_fine({"v.vec": raw}, "-t", "lstm", "--vectors", "v.vec", "--out", "runs")


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
    _refused_or_fine({"m.onnx": raw}, "--onnx", "m.onnx", "-r", "ort-cpu", "--out", "runs")


# what issue 22 found, each one line and exit 2 (run directories, exit codes, ONNX files: test_run_dir_is_data.py) --

def _pytest_benchmark(**changes: object) -> dict:
    stats = {"min": 0.001, "max": 0.003, "mean": 0.002, "stddev": 0.0005, "median": 0.002, "rounds": 3,
             "total": 0.006, "data": [0.001, 0.002, 0.003]}
    bench = {"group": None, "name": "test_x", "fullname": "t.py::test_x", "params": None, "options": {},
             "stats": stats, "extra_info": {}}
    doc = {"machine_info": {"node": "n", "system": "Linux", "machine": "x86_64", "cpu": {"brand_raw": "c", "count": 2}},
           "commit_info": {"id": "abc"}, "benchmarks": [bench], "datetime": "2026-01-01T00:00:00", "version": "5"}
    for key, value in changes.items():
        if key in ("extra_info", "stats"):
            bench[key] = value
        else:
            doc[key] = value
    return doc


FOUND = {
    "extra_info a list": (lambda: _pytest_benchmark(extra_info=["twinbench_batch", 1]), "extra_info: expected an object"),
    "machine_info a list": (lambda: _pytest_benchmark(machine_info=[1, 2]), "machine_info: expected an object"),
    "NaN in stats.data": (lambda: _pytest_benchmark(stats={"data": [0.001, float("nan")]}), "stats.data[1]"),
    "a negative time": (lambda: _pytest_benchmark(stats={"data": [0.001, -5.0]}), "stats.data[1]"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
@pytest.mark.parametrize("command", ["report", "export"])
def test_malformed_pytest_benchmark_json_is_one_line_and_leaves_nothing(tmp_path: Path, case: str,
                                                                        command: str) -> None:
    make, needle = FOUND[case]
    (tmp_path / "b.json").write_text(json.dumps(make()))
    args = ["report", "b.json"] if command == "report" else ["export", "b.json", "--format", "bencher"]
    proc = subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "TWINBENCH_CACHE": str(tmp_path / "cache")}, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "cache"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]  # no half-made b.twinbench/ left behind


LONG = "x" * 300  # one path component over the 255 bytes Linux allows


@pytest.mark.parametrize("args,needle", [
    (["report", LONG], "File name too long"),
    (["run", "--check", "--out", LONG], "File name too long"),
    (["run", "--check", "--onnx", LONG + ".onnx", "-r", "ort-cpu"], "File name too long"),
    (["compare", LONG, LONG], "File name too long"),
    (["run", "--check", "-t", "lstm", "--threads", "100000", "-b", "1000000000"], "must be <="),
    (["run", "--check", "-t", "lstm", "-b", "1048576", "-s", "1048576", "--out", "runs"], "needs about"),
    (["run", "c_hidden.toml", "--check"], "parameters"),
    (["run", "c_max_len.toml", "--check"], "rows need about"),
    (["run", "c_train.toml", "--check"], "training.max_s"),
])
def test_what_issue_22_found_is_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "c_hidden.toml").write_text('out_dir = "runs"\n[[twins]]\nname = "lstm"\nhidden = 1000000000\n')
    (tmp_path / "c_max_len.toml").write_text('out_dir = "runs"\n[data]\nsize = 5000000\nmax_len = 65536\n')
    (tmp_path / "c_train.toml").write_text('out_dir = "runs"\n[training]\nmax_s = -1\n')
    proc = _check_args(tmp_path, *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def _check_args(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TWINBENCH_CACHE": str(workdir / "cache"),
           "TWINBENCH_LOCK": str(workdir / "cache" / "bench.lock")}
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True,
                          cwd=workdir, env=env, timeout=120)


@pytest.mark.slow
def test_training_over_its_time_bound_fails_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('twins = ["lstm"]\nexporters = ["torch-script"]\nruntimes = ["ort-cpu"]\n'
                                     'out_dir = "runs"\nrun_id = "slow"\n[training]\nepochs = 1000\nmax_s = 1.0\n'
                                     '[data]\nsize = 200\n')
    proc = _check_args(tmp_path, "run", "c.toml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
    assert len(errors) == 1 and "ran over [training] max_s = 1 s" in errors[0], proc.stderr
    manifest = json.loads((tmp_path / "runs" / "slow" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "max_s" in manifest["error"]
