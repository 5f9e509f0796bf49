"""Reliability through the CLI (issue 15): bad input refused before any work, a killed run reads
as interrupted and resumes, one benchmark at a time per machine. Real subprocesses, no mocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import small_run_toml

FAST = small_run_toml(batches=[1, 2, 3], max_s=0.3, repeats=1)


def _env(tmp: Path) -> dict[str, str]:
    """A private cache and lock per test, so tests (and other users of this machine) don't meet."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TWINBENCH_CACHE": str(tmp / "cache"),
            "TWINBENCH_LOCK": str(tmp / "cache" / "bench.lock")}


def tb(tmp: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, cwd=tmp,
                          env={**_env(tmp), **(env or {})}, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
    assert len(err) == 1 and needle in err[0], proc.stderr
    return err[0]


def _tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")} if root.exists() else {}


# 1. everything checked before any training ------------------------------------------------------

def _case(tmp: Path, case: str) -> list[str]:
    if case == "truncated-onnx":
        (tmp / "trunc.onnx").write_bytes(b"\x08\x07\x12\x04torch" + b"\x00" * 37)
        return ["run", "--onnx", "trunc.onnx", "-r", "ort-cpu", "-t", "lstm", "--out", "runs"]
    if case == "missing-vectors":
        return ["run", "-t", "lstm", "--vectors", "nope.vec", "--out", "runs"]
    if case == "non-utf8-csv":
        (tmp / "bad.csv").write_bytes(b"text,label\ncaf\xe9 good,pos\nbad movie,neg\n")
        (tmp / "c.toml").write_text('out_dir = "runs"\n[data]\nsource = "csv"\npath = "bad.csv"\n')
        return ["run", "c.toml"]
    if case == "reused-run-id":
        (tmp / "runs" / "taken").mkdir(parents=True)
        (tmp / "runs" / "taken" / "keep.txt").write_text("mine")
        (tmp / "c.toml").write_text('run_id = "taken"\nout_dir = "runs"\n')
        return ["run", "c.toml"]
    if case == "out-dir-is-a-file":
        (tmp / "runs").write_text("not a folder")
        return ["run", "-t", "lstm", "--out", "runs"]
    raise AssertionError(case)


@pytest.mark.parametrize("case,needle", [
    ("truncated-onnx", "not a readable ONNX model"),
    ("missing-vectors", "nope.vec"),
    ("non-utf8-csv", "not valid UTF-8"),
    ("reused-run-id", "already exists"),
    ("out-dir-is-a-file", "is a file"),
])
def test_bad_input_refused_in_seconds_before_any_work(tmp_path: Path, case: str, needle: str) -> None:
    args = _case(tmp_path, case)
    before = _tree(tmp_path / "runs")
    t0 = time.perf_counter()
    proc = tb(tmp_path, *args)
    elapsed = time.perf_counter() - t0
    one_line_error(proc, 2, needle)
    assert elapsed < 5.0, f"{case}: refused after {elapsed:.1f} s"
    assert _tree(tmp_path / "runs") == before  # no run directory made, none changed
    assert "training" not in proc.stderr


# 2. liveness and resume ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run of FAST (lstm, torch-script, ort-cpu, three cells)."""
    return fast_run(tmp_path_factory.mktemp("whole"), "whole")


def fast_run(tmp: Path, run_id: str) -> Path:
    """A finished run of FAST named `run_id`, made in `tmp`."""
    (tmp / "u.toml").write_text(f'run_id = "{run_id}"\n' + FAST)
    proc = tb(tmp, "run", "u.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "runs" / run_id


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "cells").glob("*.json"))
            if not p.name.endswith((".outputs.json", ".spec.json", ".load.json"))]


@pytest.mark.slow
def test_killed_run_reads_interrupted_and_resumes_with_every_cell_once(tmp_path: Path, finished_run: Path) -> None:
    import pandas as pd

    (tmp_path / "c.toml").write_text('run_id = "killed"\n' + FAST)
    proc = subprocess.Popen([sys.executable, "-m", "twinbench", "run", "c.toml"], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = tmp_path / "runs" / "killed"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None and not _rows(run_dir):
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["driver"]["pid"] == proc.pid
    assert manifest["driver"]["heartbeat"] > manifest["driver"]["started"]  # the heartbeat thread ran
    measured = len(_rows(run_dir))
    assert 1 <= measured < 3

    report = tb(tmp_path, "report", str(run_dir))
    one_line_error(report, 2, "status is 'interrupted'")

    resumed = tb(tmp_path, "run", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "not rebuilt" in resumed.stderr and "already measured" in resumed.stderr
    rows = _rows(run_dir)
    cells = [p.name for p in (run_dir / "cells").glob("*.spec.json")]
    assert len(rows) == len(cells) == 3
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["resumes"]) == 1

    a = pd.read_parquet(run_dir / "results.parquet")
    b = pd.read_parquet(finished_run / "results.parquet")  # the same config, never interrupted
    assert list(a.columns) == list(b.columns)
    key = ["twin", "artifact", "runtime", "device", "batch", "seq_len", "threads"]
    assert a[key].sort_values(key).values.tolist() == b[key].sort_values(key).values.tolist()
    assert set(a["status"]) <= {"ok", "invalid"} and set(b["status"]) <= {"ok", "invalid"}  # noise decides which


def test_resume_refuses_a_complete_or_missing_run(tmp_path: Path) -> None:
    one_line_error(tb(tmp_path, "run", "--resume", "runs/none"), 2, "run directory not found")


# 3. one benchmark at a time ----------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from twinbench.core.benchlock import bench_lock
    with bench_lock(sys.argv[2], ".", say=lambda m: None):
        print("held", flush=True)
        time.sleep(float(sys.argv[1]))
""")


def _hold(tmp: Path, seconds: float, run_id: str = "holder-run") -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(seconds), run_id], cwd=tmp, env=_env(tmp), text=True,
                         stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_no_wait_refuses_at_once_naming_the_holder(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 60)
    try:
        t0 = time.perf_counter()
        proc = tb(tmp_path, "run", "-t", "lstm", "--no-wait", "--out", "runs")
        line = one_line_error(proc, 2, f"pid {holder.pid}")
        assert "holder-run" in line and time.perf_counter() - t0 < 10
        assert not (tmp_path / "runs").exists()
    finally:
        holder.kill()
        holder.wait()


def test_lock_waits_and_says_for_whom(tmp_path: Path) -> None:
    """Two real processes: the second waits for the first, then takes the lock."""
    holder = _hold(tmp_path, 3)
    waiter = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import time
        from twinbench.core.benchlock import bench_lock
        t0 = time.monotonic()
        with bench_lock("second", ".", say=print):
            print(f"took {time.monotonic() - t0:.1f}")
    """)], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    holder.wait()
    assert waiter.returncode == 0, waiter.stderr
    assert f"held by pid {holder.pid} (run holder-run" in waiter.stdout
    assert float(waiter.stdout.strip().splitlines()[-1].split()[1]) >= 1.5


def test_a_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    free = subprocess.run([sys.executable, "-c", "from twinbench.core.benchlock import check_free; check_free()"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert free.returncode == 0, free.stderr



# 4. the lock in a shared /tmp: what another user could plant there ----------------------------------

def _facts(path: Path) -> tuple[bytes, int, int, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns


def _victim(tmp: Path) -> Path:
    """A file a planted link might point at: private, with content that must survive."""
    target = tmp / "victim.conf"
    target.write_bytes(b"precious = true\n")
    target.chmod(0o600)
    return target


@pytest.fixture()
def lock_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lock = tmp_path / "cache" / "bench.lock"
    lock.parent.mkdir(parents=True)
    monkeypatch.setenv("TWINBENCH_LOCK", str(lock))
    return lock


def test_a_planted_symlink_is_refused_and_its_target_untouched(tmp_path: Path, lock_at: Path) -> None:
    from twinbench.core.benchlock import UnsafeLock, bench_lock, check_free

    target = _victim(tmp_path)
    before = _facts(target)
    lock_at.symlink_to(target)
    with pytest.raises(UnsafeLock, match="symbolic link"):
        with bench_lock("r", tmp_path, say=lambda m: None):
            pass
    with pytest.raises(UnsafeLock, match="symbolic link"):
        check_free()
    # through the real CLI: one line, exit 2, before any work
    tiny_onnx(tmp_path / "tiny.onnx")
    proc = tb(tmp_path, "run", "--onnx", "tiny.onnx", "-r", "ort-cpu", "--no-wait", "--out", "runs")
    one_line_error(proc, 2, "is a symbolic link; refused")
    assert _facts(target) == before and lock_at.is_symlink()
    # a dangling link is not followed into creating its target either
    lock_at.unlink()
    lock_at.symlink_to(tmp_path / "made-by-us")
    with pytest.raises(UnsafeLock, match="symbolic link"):
        check_free()
    assert not (tmp_path / "made-by-us").exists()


def test_a_hard_link_or_a_fifo_is_refused_untouched(tmp_path: Path, lock_at: Path) -> None:
    from twinbench.core.benchlock import UnsafeLock, bench_lock

    target = _victim(tmp_path)
    before = _facts(target)
    os.link(target, lock_at)
    with pytest.raises(UnsafeLock, match="hard links"):
        with bench_lock("r", tmp_path, say=lambda m: None):
            pass
    assert _facts(target) == before
    lock_at.unlink()
    os.mkfifo(lock_at)
    with pytest.raises(UnsafeLock, match="not a regular file"):
        with bench_lock("r", tmp_path, say=lambda m: None):
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file owned by another user")
def test_another_users_file_is_locked_but_never_written(tmp_path: Path, lock_at: Path) -> None:
    """Root benchmarking on a lock file another user made: it is locked (the machine-wide property
    holds across users) but not written, truncated or chmod-ed."""
    from twinbench.core.benchlock import BenchmarkBusy, bench_lock, check_free

    lock_at.write_bytes(b'{"pid": 1, "run_id": "theirs"}\n' + b"x" * 10)
    lock_at.chmod(0o666)
    os.chown(lock_at, 65534, 65534)
    before = _facts(lock_at)
    with bench_lock("root-run", tmp_path, say=lambda m: None):
        free = subprocess.run([sys.executable, "-c", "from twinbench.core.benchlock import check_free; check_free()"],
                              cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert free.returncode != 0 and "BenchmarkBusy" in free.stderr
    assert _facts(lock_at) == before
    check_free()
    with pytest.raises(BenchmarkBusy):  # sanity: the same file, held by a real other process
        holder = _hold(tmp_path, 30)
        try:
            check_free()
        finally:
            holder.kill()
            holder.wait()
    assert _facts(lock_at) == before


def test_a_new_lock_file_is_ours_and_shared_and_never_truncated(tmp_path: Path, lock_at: Path) -> None:
    from twinbench.core.benchlock import RECORD_BYTES, bench_lock, holder

    with bench_lock("mine", tmp_path, say=lambda m: None):
        assert holder(lock_at)["run_id"] == "mine"
        assert lock_at.stat().st_mode & 0o777 == 0o644 and lock_at.stat().st_uid == os.geteuid()
    assert holder(lock_at) == {} and lock_at.stat().st_size == RECORD_BYTES
    # a file of ours that is not a lock record (say, moved there by someone) is locked, never written
    lock_at.unlink()
    lock_at.write_text("not a lock record\n")
    before = _facts(lock_at)
    with bench_lock("mine", tmp_path, say=lambda m: None):
        pass
    assert _facts(lock_at) == before


def test_holder_text_is_data(tmp_path: Path, lock_at: Path) -> None:
    """Whatever the lock file says is cut, stripped of control characters and never read past a
    few KiB; markup in it is shown as written."""
    from twinbench.core.benchlock import describe, holder

    lock_at.write_bytes(json.dumps({"pid": "1\x1b]0;pwned\x07", "run_id": "[/x][bold]" + "r" * 1000,
                                    "since": "\nnow"}).encode() + b"\n" + b"z" * 10_000_000)
    text = describe(holder(lock_at))
    assert "[/x][bold]" in text and len(text) < 300
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in text)
    lock_at.write_bytes(b"\xff\xfe" * 3000)
    assert describe(holder(lock_at)) == "another process"


@pytest.mark.slow
def test_markup_in_holder_text_and_out_path_is_printed_as_written(tmp_path: Path) -> None:
    """A run waiting for a holder whose run id holds `[/x]` and an escape sequence, writing into an
    --out folder named with `[/y]`: it finishes (exit 0, not an internal error) and prints both as text."""
    tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "s.toml").write_text('batches = [1]\ncalibration = false\n'
                                     '[timing]\nmin_iters = 5\nmin_s = 0.05\nmax_s = 0.3\nrepeats = 1\n')
    holder = _hold(tmp_path, 3, run_id="evil[/x]\x1b[31mred")
    try:
        proc = tb(tmp_path, "run", "s.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu", "--out", "o[/y]ut")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run evil[/x] [31mred" in proc.stderr and "\x1b" not in proc.stderr
    assert "report: o[/y]ut/" in proc.stdout and "o[/y]ut" in proc.stderr
    assert len(list((tmp_path / "o[/y]ut").iterdir())) == 1


def test_progress_lines_and_consoles_print_markup_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    from twinbench.cli import _progress_runner
    from twinbench.core.console import make_console

    def body(say: object, progress: object) -> int:
        say("closing [/x] and [bold]open")  # type: ignore[operator]
        progress(1, 2, "cell [/y]")  # type: ignore[operator]
        return 7

    assert _progress_runner(body) == 7
    make_console().print("path a[/z]b")
    out = capsys.readouterr()
    assert "closing [/x] and [bold]open" in out.err and "a[/z]b" in out.out

# 5. paths in a config are relative to the config file ---------------------------------------------

def test_config_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    """`cd tw && twinbench run ../u.toml` finds tw/mod.py and tw/bad.csv named relative to u.toml:
    the run gets as far as reading the CSV (refused for its encoding, not for being missing)."""
    (tmp_path / "tw").mkdir()
    (tmp_path / "tw" / "mod.py").write_text("# a twin module that registers nothing\n")
    (tmp_path / "tw" / "bad.csv").write_bytes(b"text,label\ncaf\xe9 good,pos\nbad movie,neg\n")
    (tmp_path / "u.toml").write_text('twin_modules = ["tw/mod.py"]\nout_dir = "runs"\n'
                                     '[data]\nsource = "csv"\npath = "tw/bad.csv"\n')
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", "../u.toml"], capture_output=True, text=True,
                          cwd=tmp_path / "tw", env=_env(tmp_path), timeout=120)
    one_line_error(proc, 2, f"{tmp_path / 'tw' / 'bad.csv'}:2: not valid UTF-8")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "tw" / "runs").exists()


# 4. parity never crashes; 6. judge any ONNX file against a twin's golden ------------------------------

@pytest.mark.slow
def test_parity_check_that_cannot_run_is_an_error_row(tmp_path: Path, finished_run: Path) -> None:
    import shutil

    run_dir = tmp_path / "moved"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "artifacts" / "lstm" / "torch-script.onnx").write_bytes(b"")  # emptied on the way
    proc = tb(tmp_path, "parity", str(run_dir), "-r", "ort-cpu")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "internal error" not in proc.stderr
    assert "ERROR" in proc.stdout and "lstm/torch-script on ort-cpu: InvalidArgument" in proc.stdout


def _nudge_last_layer(src: Path, dst: Path) -> None:
    """One element of the last layer's weights moved by 1e-3."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    inits = {t.name: t for t in model.graph.initializer}
    for node in reversed(model.graph.node):
        names = [n for n in node.input if n in inits and inits[n].data_type == onnx.TensorProto.FLOAT]
        if names:
            break
    tensor = inits[names[-1]]
    arr = numpy_helper.to_array(tensor).copy()
    arr.flat[0] += np.float32(1e-3)
    tensor.CopyFrom(numpy_helper.from_array(arr, tensor.name))
    onnx.save(model, str(dst))


@pytest.mark.slow
def test_judge_an_edited_onnx_file_against_the_golden(tmp_path: Path, finished_run: Path) -> None:
    import shutil

    exported = finished_run / "artifacts" / "lstm" / "torch-script.onnx"
    shutil.copyfile(exported, tmp_path / "same.onnx")
    _nudge_last_layer(exported, tmp_path / "nudged.onnx")
    before = _tree(finished_run / "artifacts")

    same = tb(tmp_path, "parity", str(finished_run), "--onnx", "same.onnx", "--twin", "lstm", "-r", "ort-cpu")
    assert same.returncode == 0 and "parity: PASS" in same.stdout, same.stdout + same.stderr

    nudged = tb(tmp_path, "parity", str(finished_run), "--onnx", "nudged.onnx", "--twin", "lstm", "-r", "ort-cpu")
    assert nudged.returncode == 1 and "parity: FAIL" in nudged.stdout, nudged.stdout + nudged.stderr
    assert "first diverging layer: ort-cpu: logits" in nudged.stdout
    saved = [json.loads(p.read_text()) for p in (finished_run / "judged").glob("nudged-*/verdict.json")]
    assert saved and saved[0]["verdict"] == "FAIL" and saved[0]["first_divergent_layer"] == ["ort-cpu: logits"]
    assert _tree(finished_run / "artifacts") == before  # the run's own artifacts untouched

    wrong = tb(tmp_path, "parity", str(finished_run), "--onnx", "same.onnx", "--twin", "gru")
    one_line_error(wrong, 2, "has no twin 'gru'")

    # the same judgement kept in a config file, its path relative to the file
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "judge.toml").write_text('[judge]\nonnx = "../nudged.onnx"\ntwin = "lstm"\nruntimes = ["ort-cpu"]\n')
    from_config = tb(tmp_path, "parity", str(finished_run), "--config", "cfg/judge.toml")
    assert from_config.returncode == 1 and "first diverging layer: ort-cpu: logits" in from_config.stdout
    (tmp_path / "bad.toml").write_text('[judge]\nonnx = "same.onnx"\nmodel = "lstm"\n')
    one_line_error(tb(tmp_path, "parity", str(finished_run), "--config", "bad.toml"), 2, "judge: unknown key(s) model")


# 7. ONNX-only runs --------------------------------------------------------------------------------

def tiny_onnx(path: Path, seq: int | str = 8) -> Path:
    """A token-id model of the suite's shape: Gather from a small table, mean over the sequence."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "tokens"], ["emb"]),
         helper.make_node("ReduceMean", ["emb"], ["out"], axes=[1], keepdims=0)],
        "tiny", [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", seq])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])], [table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.slow
def test_onnx_only_run_benchmarks_just_the_file_at_its_shapes(tmp_path: Path) -> None:
    import pandas as pd

    tiny_onnx(tmp_path / "tiny.onnx", seq=8)
    (tmp_path / "c.toml").write_text('run_id = "oo"\nbatches = [1, 2]\ncalibration = false\nout_dir = "runs"\n'
                                     '[timing]\nmin_iters = 5\nmin_s = 0.05\nmax_s = 0.3\nrepeats = 1\n')
    proc = tb(tmp_path, "run", "c.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "training" not in proc.stderr and "parity: SKIP" in proc.stdout
    results = pd.read_parquet(tmp_path / "runs" / "oo" / "results.parquet")
    assert set(results["twin"]) == {"user"} and set(results["artifact"]) == {"tiny"}
    assert sorted(results["batch"]) == [1, 2] and set(results["seq_len"]) == {8}  # the file's fixed length


@pytest.mark.slow
def test_allow_overlap_is_recorded_in_both_runs(tmp_path: Path) -> None:
    """Two real runs: the second overlaps the first's benchmark on purpose; both manifests say so
    and both runs' cells carry the `overlap` flag."""
    import pandas as pd

    (tmp_path / "h.toml").write_text('run_id = "first"\n' + FAST.replace("batches = [1, 2, 3]", "batches = [1, 2, 3, 4, 5]"))
    first = subprocess.Popen([sys.executable, "-m", "twinbench", "run", "h.toml"], cwd=tmp_path, env=_env(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "cache" / "bench.lock"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and first.poll() is None:
        if lock.is_file() and '"run_id": "first"' in lock.read_text():
            break
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before the overlap"
    tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "s.toml").write_text('run_id = "second"\nbatches = [1]\ncalibration = false\nout_dir = "runs"\n'
                                     '[timing]\nmin_iters = 5\nmin_s = 0.05\nmax_s = 0.3\nrepeats = 1\n')
    second = tb(tmp_path, "run", "s.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu", "--allow-overlap")
    out, err = first.communicate(timeout=600)
    assert second.returncode == 0 and first.returncode == 0, second.stderr + err
    assert "overlapping as asked" in second.stderr
    runs = tmp_path / "runs"
    m1 = json.loads((runs / "first" / "manifest.json").read_text())
    m2 = json.loads((runs / "second" / "manifest.json").read_text())
    assert m2["overlap"]["with"]["run_id"] == "first" and m2["overlap"]["with"]["pid"] == first.pid
    assert [o["run_id"] for o in m1["overlapped_by"]] == ["second"]
    for name in ("first", "second"):
        assert pd.read_parquet(runs / name / "results.parquet")["overlap"].all()


def test_empty_twins_in_a_config_with_onnx_on_the_command_line_is_an_onnx_only_run(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "c.toml").write_text('twins = []\nout_dir = "runs"\n')
    proc = tb(tmp_path, "run", "c.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu", "--check")
    assert proc.returncode == 0 and "config: OK" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()
    one_line_error(tb(tmp_path, "run", "c.toml", "--check"), 2, "at least one twin")


def test_resume_reads_command_line_paths_from_the_run_s_folder(tmp_path: Path) -> None:
    """A run started with `--onnx tiny.onnx` in one folder resumes from another: the manifest
    records the folder (`cwd`) its command-line paths were relative to. (The driver here is a
    short-lived process that only makes the run directory, then is gone.)"""
    tiny_onnx(tmp_path / "tiny.onnx")
    make = textwrap.dedent("""
        from twinbench.config import load_config
        from twinbench.core.manifest import create_run_dir
        cfg = load_config(None, {"onnx": ("tiny.onnx",), "runtimes": ("ort-cpu",)})
        create_run_dir("runs", cfg.to_dict(), "r2")
    """)
    subprocess.run([sys.executable, "-c", make], cwd=tmp_path, env=_env(tmp_path), check=True, timeout=120)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", "--resume", str(tmp_path / "runs" / "r2"),
                           "--check"], capture_output=True, text=True, cwd=elsewhere, env=_env(tmp_path), timeout=120)
    assert proc.returncode == 0 and "config: OK" in proc.stdout, proc.stdout + proc.stderr


def test_resume_refuses_a_run_whose_driver_is_alive(tmp_path: Path) -> None:
    from twinbench.config import load_config
    from twinbench.core.manifest import create_run_dir

    made, _ = create_run_dir(tmp_path / "runs", load_config().to_dict(), "alive")  # this test process drives it
    one_line_error(tb(tmp_path, "run", "--resume", str(made)), 2, f"is still running (pid {os.getpid()}")
