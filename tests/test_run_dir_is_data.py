"""Issue 22 through the real CLI: a run directory is data (a module it names is never executed, a
recorded twin module is re-imported on `--resume` only when its file still has the recorded
sha256, where cells run is never taken from it, copies never follow its links), exit codes a gate
can trust (a failed cell exits 4, `--resume` measures failed cells again), and ONNX files with
external data or one file name between two are measured."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_reliability import fast_run, one_line_error, tb, tiny_onnx

HERE = Path(__file__).parent
BAD_RUNTIMES = HERE / "bench" / "bad_runtimes.py"
#: A module that leaves a trace of every import: the marker file must never appear.
MARKER_MODULE = """
from pathlib import Path
with open({marker!r}, "a") as fh:
    fh.write("imported\\n")
"""
#: A run of ONNX files only: no training, a few seconds.
ONNX_ONLY = ('batches = [1]\ncalibration = false\nout_dir = "runs"\n'
             '[timing]\nmin_iters = 5\nmin_s = 0.05\nmax_s = 0.3\nrepeats = 1\n')


@pytest.fixture(scope="module")
def made_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of FAST (lstm, torch-script, ort-cpu), never changed by a test: tests copy it."""
    return fast_run(tmp_path_factory.mktemp("made"), "made")


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def _write_manifest(run_dir: Path, manifest: dict) -> None:
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def _interrupted(manifest: dict) -> dict:
    """The manifest of a run whose driver died: `--resume` may continue it."""
    return dict(manifest, status="interrupted", driver={"pid": 2**22 + 7, "host": "gone", "started": "2020-01-01"})


def _hostile(tmp: Path, made: Path) -> tuple[Path, Path]:
    """A copy of a finished run whose manifest names a module inside itself, with a forged but
    matching content hash; returns (run directory, the marker file its import would write)."""
    run_dir = tmp / "received"
    shutil.copytree(made, run_dir)
    marker = tmp / "MARKER"
    evil = run_dir / "evil.py"
    evil.write_text(MARKER_MODULE.format(marker=str(marker)) + "raise SystemExit(0)\n")
    manifest = _manifest(run_dir)
    manifest["config"]["twin_modules"] = [str(evil), "evil.py"]
    manifest["cwd"] = str(run_dir)  # "evil.py" read relative to the run directory itself
    manifest["twin_module_files"] = [{"spec": s, "path": str(evil), "sha256": hashlib.sha256(evil.read_bytes()).hexdigest()}
                                     for s in ("evil.py", str(evil))]
    _write_manifest(run_dir, manifest)
    return run_dir, marker


# 1. a run directory is data ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("command", ["parity", "judge", "bench", "compare-remeasure", "resume"])
def test_a_module_named_inside_a_run_directory_is_never_executed(tmp_path: Path, made_run: Path,
                                                                 command: str) -> None:
    run_dir, marker = _hostile(tmp_path, made_run)
    if command == "parity":
        proc = tb(tmp_path, "parity", str(run_dir), "-r", "ort-cpu")
        assert proc.returncode == 0 and "parity: PASS" in proc.stdout, proc.stdout + proc.stderr
    elif command == "judge":
        shutil.copyfile(made_run / "artifacts" / "lstm" / "torch-script.onnx", tmp_path / "edited.onnx")
        proc = tb(tmp_path, "parity", str(run_dir), "--onnx", "edited.onnx", "--twin", "lstm", "-r", "ort-cpu")
        assert proc.returncode == 0 and "parity: PASS" in proc.stdout, proc.stdout + proc.stderr
    elif command == "bench":
        proc = tb(tmp_path, "bench", str(run_dir), "--fast", "-r", "ort-cpu", "--out", "again")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    elif command == "compare-remeasure":
        proc = tb(tmp_path, "compare", str(run_dir), str(made_run), "--remeasure", "--repeats", "1", "--max-repeats", "3")
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # a verdict either way
    else:
        _write_manifest(run_dir, _interrupted(_manifest(run_dir)))
        proc = tb(tmp_path, "run", "--resume", str(run_dir))
        one_line_error(proc, 2, "lies inside the run directory")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not marker.exists(), f"{command} executed a module the run directory named"


@pytest.mark.slow
def test_resume_imports_a_recorded_module_only_while_its_content_is_unchanged(tmp_path: Path) -> None:
    """A run made with `--twin-module mods/trace.py` records the file and its sha256; `--resume`
    imports it again only while both hold, or when the module is given again on the command line."""
    marker = tmp_path / "MARKER"
    (tmp_path / "mods").mkdir()
    module = tmp_path / "mods" / "trace.py"
    module.write_text(MARKER_MODULE.format(marker=str(marker)))
    tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "c.toml").write_text('run_id = "r"\n' + ONNX_ONLY)
    made = tb(tmp_path, "run", "c.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu", "--twin-module", "mods/trace.py")
    assert made.returncode == 0, made.stdout + made.stderr
    run_dir = tmp_path / "runs" / "r"
    manifest = _manifest(run_dir)
    record = manifest["twin_module_files"][0]
    assert record == {"spec": "mods/trace.py", "path": str(module.resolve()),
                      "sha256": hashlib.sha256(module.read_bytes()).hexdigest()}
    _write_manifest(run_dir, _interrupted(manifest))

    marker.unlink()
    same = tb(tmp_path, "run", "--resume", str(run_dir))
    assert same.returncode == 0, same.stdout + same.stderr
    assert marker.exists()  # the very file the run used: imported again

    _write_manifest(run_dir, _interrupted(_manifest(run_dir)))
    module.write_text(module.read_text() + "\n# changed\n")
    one_line_error(tb(tmp_path, "run", "--resume", str(run_dir)), 2, "changed since the run was made")
    trusted = tb(tmp_path, "run", "--resume", str(run_dir), "--twin-module", "mods/trace.py")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr  # named on this command line: imported

    _write_manifest(run_dir, _interrupted(_manifest(run_dir)))
    module.unlink()
    one_line_error(tb(tmp_path, "run", "--resume", str(run_dir)), 2, "is missing")

    manifest = _interrupted(_manifest(run_dir))
    del manifest["twin_module_files"]  # a manifest of an older twinbench, or an edited one
    _write_manifest(run_dir, manifest)
    one_line_error(tb(tmp_path, "run", "--resume", str(run_dir)), 2, "recorded no content hash")


def test_a_system_exit_in_a_module_given_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    """`except Exception` does not catch SystemExit: a module calling exit() used to end the command
    with its own exit code and no message."""
    (tmp_path / "quits.py").write_text("raise SystemExit(0)\n")
    one_line_error(tb(tmp_path, "run", "--check", "--twin-module", "quits.py", "--out", "runs"), 2,
                   "failed to import: SystemExit: 0")
    (tmp_path / "raises.py").write_text("raise ValueError('broken')\n")
    (tmp_path / "lib" / "pkg_raises").mkdir(parents=True)
    (tmp_path / "lib" / "pkg_raises" / "__init__.py").write_text("raise ValueError('broken package')\n")
    one_line_error(tb(tmp_path, "run", "--check", "--twin-module", "raises.py", "--out", "runs"), 2, "broken")
    one_line_error(tb(tmp_path, "list", "--twin-module", "pkg_raises", env={"PYTHONPATH": str(tmp_path / "lib")}), 2,
                   "broken package")


def test_finding_a_module_s_file_executes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a run records (core/modules.py) is found the way `import` would find it, without
    running a package's `__init__` on the way; a moved file reads as missing, a changed one as changed."""
    from twinbench.core.errors import ConfigError
    from twinbench.core.modules import ModuleRecord, locate, record, verify

    marker = tmp_path / "MARKER"
    (tmp_path / "lib" / "pkg_noisy").mkdir(parents=True)
    (tmp_path / "lib" / "pkg_noisy" / "__init__.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    (tmp_path / "lib" / "pkg_noisy" / "twins.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    assert locate("pkg_noisy.twins") == (tmp_path / "lib" / "pkg_noisy" / "twins.py").resolve()
    rec = record("pkg_noisy.twins")
    assert rec is not None and not marker.exists()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert verify("pkg_noisy.twins", [rec], run_dir) == "pkg_noisy.twins"
    (tmp_path / "lib" / "pkg_noisy" / "twins.py").write_text("X = 2\n")
    with pytest.raises(ConfigError, match="changed since the run was made"):
        verify("pkg_noisy.twins", [rec], run_dir)
    inside = ModuleRecord("x.py", str(run_dir / "x.py"), rec.sha256)
    (run_dir / "x.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="inside the run directory"):
        verify("x.py", [inside], run_dir)
    assert not marker.exists()


@pytest.mark.slow
def test_resume_and_bench_never_take_the_run_s_cluster_address(tmp_path: Path) -> None:
    """A manifest naming a Ray cluster: `--resume` and `bench` run their cells here, exit 0 (trying
    the unroutable address would end in a connection error, or in Ray not being installed)."""
    tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "c.toml").write_text('run_id = "r"\n' + ONNX_ONLY)
    assert tb(tmp_path, "run", "c.toml", "--onnx", "tiny.onnx", "-r", "ort-cpu").returncode == 0
    run_dir = tmp_path / "runs" / "r"
    manifest = _manifest(run_dir)
    manifest["config"]["executor"] = {"kind": "ray", "address": "10.255.255.1:6379", "timeout_s": 120}
    manifest["config"]["machines"] = ["hw:elsewhere"]
    _write_manifest(run_dir, manifest)
    bench = tb(tmp_path, "bench", str(run_dir), "--fast", "--out", "again")
    assert bench.returncode == 0, bench.stdout + bench.stderr
    (run_dir / "cells" / next(p.name for p in (run_dir / "cells").glob("*.t1.json"))).unlink()  # one cell to do
    _write_manifest(run_dir, _interrupted(manifest))
    resumed = tb(tmp_path, "run", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _manifest(run_dir)["status"] == "complete"


@pytest.mark.slow
def test_bench_refuses_a_symlink_inside_the_source(tmp_path: Path, made_run: Path) -> None:
    run_dir = tmp_path / "received"
    shutil.copytree(made_run, run_dir)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (run_dir / "artifacts" / "lstm" / "leak.txt").symlink_to(secret)
    one_line_error(tb(tmp_path, "bench", str(run_dir), "--fast", "-r", "ort-cpu", "--out", "again"), 2,
                   "a symlink inside a run directory")
    copied = [p for p in (tmp_path / "again").rglob("leak.txt")] if (tmp_path / "again").exists() else []
    assert not copied


# 2. exit codes a gate can trust -------------------------------------------------------------------

def _onnx_only_run(tmp: Path, run_id: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    tiny_onnx(tmp / "tiny.onnx")
    (tmp / "c.toml").write_text(f'run_id = "{run_id}"\n' + ONNX_ONLY)
    return tb(tmp, "run", "c.toml", "--onnx", "tiny.onnx", "--twin-module", str(BAD_RUNTIMES), *args, env=env)


@pytest.mark.slow
def test_a_run_whose_cells_failed_exits_4_unless_failures_are_allowed(tmp_path: Path) -> None:
    failed = _onnx_only_run(tmp_path, "all-failed", "-r", "test-raise")
    one_line_error(failed, 4, "1 cell(s) failed")
    assert "cells: 0 ok, 0 invalid, 1 failed, 0 skipped" in failed.stdout

    allowed = _onnx_only_run(tmp_path, "allowed", "-r", "test-raise", "-r", "ort-cpu", "--allow-failed", "--json")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    summary = json.loads(allowed.stdout)
    assert summary["exit_code"] == 0 and summary["failed_cells"] == 1 and summary["cell_status"]["failed"] == 1

    as_json = _onnx_only_run(tmp_path, "as-json", "-r", "test-raise", "--json")
    assert as_json.returncode == 4 and json.loads(as_json.stdout)["exit_code"] == 4

    strict = _onnx_only_run(tmp_path, "strict", "-r", "ort-cpu", "--fail-invalid")
    counts = json.loads((tmp_path / "runs" / "strict" / "manifest.json").read_text())["cell_counts"]
    assert strict.returncode == (4 if counts["invalid"] else 0), strict.stdout + strict.stderr


@pytest.mark.slow
def test_resume_measures_failed_cells_again_unless_kept(tmp_path: Path) -> None:
    """A transient failure (here a runtime that fails while TB_FLAKY=fail) is not frozen into the run."""
    env = {"TB_FLAKY": "fail"}
    first = _onnx_only_run(tmp_path, "flaky", "-r", "test-flaky", env=env)
    assert first.returncode == 4, first.stdout + first.stderr
    run_dir = tmp_path / "runs" / "flaky"
    one_line_error(tb(tmp_path, "run", "--resume", str(run_dir), "--keep-failed"), 2, "already complete")
    again = tb(tmp_path, "run", "--resume", str(run_dir))  # the disk has room again
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cells: 1 ok, 0 invalid, 0 failed" in again.stdout or "cells: 0 ok, 1 invalid, 0 failed" in again.stdout
    manifest = _manifest(run_dir)
    assert manifest["status"] == "complete" and manifest["resumes"][0]["status_before"] == "complete"


# 3. ONNX files: external data, one file name between two --------------------------------------------

def _with_external_data(src: Path, dst: Path) -> Path:
    import onnx

    model = onnx.load(str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.data", size_threshold=0)
    return dst


@pytest.mark.slow
def test_onnx_files_with_external_data_are_copied_with_it_and_measured(tmp_path: Path, made_run: Path) -> None:
    exported = made_run / "artifacts" / "lstm" / "torch-script.onnx"
    a = _with_external_data(exported, tmp_path / "a" / "model.onnx")
    b = _with_external_data(tiny_onnx(tmp_path / "t.onnx"), tmp_path / "b" / "model.onnx")  # same names, other data
    (tmp_path / "c.toml").write_text('run_id = "ext"\nseq_lens = [8]\n' + ONNX_ONLY)
    proc = tb(tmp_path, "run", "c.toml", "--onnx", str(a), "--onnx", str(b), "-r", "ort-cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import pandas as pd

    results = pd.read_parquet(tmp_path / "runs" / "ext" / "results.parquet")
    assert len(set(results["artifact"])) == 2 and set(results["status"]) <= {"ok", "invalid"}

    judged = tb(tmp_path, "parity", str(made_run), "--onnx", str(a), "--twin", "lstm", "-r", "ort-cpu")
    assert judged.returncode == 0 and "parity: PASS" in judged.stdout, judged.stdout + judged.stderr

    twice = tb(tmp_path, "run", "--onnx", str(a), "--onnx", str(a), "-r", "ort-cpu", "--check", "--out", "runs")
    one_line_error(twice, 2, "is given twice")
    (tmp_path / "a" / "model.data").unlink()
    one_line_error(tb(tmp_path, "run", "--onnx", str(a), "-r", "ort-cpu", "--check", "--out", "runs"), 2,
                   "external data file 'model.data' is missing")


def test_external_data_outside_the_model_s_folder_is_refused(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(_with_external_data(tiny_onnx(tmp_path / "t.onnx"), tmp_path / "m" / "model.onnx")),
                      load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../../etc/passwd"
    onnx.save(model, str(tmp_path / "m" / "escape.onnx"))
    one_line_error(tb(tmp_path, "run", "--onnx", "m/escape.onnx", "-r", "ort-cpu", "--check", "--out", "runs"), 2,
                   "without '..'")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
