"""The worker: files it writes, deterministic inputs, and failure isolation (raise, abort,
segfault, hang each give a failed row and the run goes on)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from twinbench.bench.cells import CellSpec, plan_cells
from twinbench.core.schema import RESULTS_COLUMNS
from twinbench.bench.timing import TimingPlan
from twinbench.bench.executors import get_executor
from twinbench.bench.runner import rows_frame, run_cells
from twinbench.bench.worker import busy_after, make_inputs, run_cell

PLAN = TimingPlan(warmup_iters=2, warmup_s=0.0, min_iters=5, min_s=0.05, max_s=1.0, max_spread=1e9)


def _specs(tiny_run, runtimes, **kw):
    specs, skipped = plan_cells(tiny_run.run_dir, [tiny_run.artifacts["torch-script"]], runtimes, ["cpu"], [2],
                                [6], [1], PLAN, {}, [], 40, **kw)
    assert not skipped
    return specs


def test_busy_after_gives_the_output_after_at_least_the_delay() -> None:
    slowed = busy_after(lambda: 7, 2_000_000)
    t0 = time.perf_counter_ns()
    assert slowed() == 7
    assert time.perf_counter_ns() - t0 >= 2_000_000


def test_inputs_are_deterministic_word_ids(tiny_run) -> None:
    spec = _specs(tiny_run, ["ort-cpu"])[0]
    x = make_inputs(spec)["tokens"]
    assert x.dtype == np.int64 and x.shape == (2, 6) and x.min() >= 2 and x.max() < 40
    np.testing.assert_array_equal(x, make_inputs(spec)["tokens"])


def test_run_cell_in_process_writes_row_samples_and_outputs(tiny_run) -> None:
    spec = _specs(tiny_run, ["ort-cpu"])[0]
    row = run_cell(spec)
    assert row["status"] == "ok", row["error"]
    assert set(RESULTS_COLUMNS) <= set(row)
    cells = tiny_run.run_dir / "cells"
    ns = np.load(cells / f"{spec.cell_id}.npy")
    assert ns.dtype == np.int64 and len(ns) == row["iterations"] >= 5
    assert row["samples_file"] == f"cells/{spec.cell_id}.npy"
    assert row["cold_load_ms"] > 0 and row["cold_first_run_ms"] > 0 and row["peak_rss_mb"] > 0
    assert row["threads_actual"] == 1 and row["io_in_timing"] is False
    assert json.loads(row["runtime_settings"])["intra_op_threads"] == 1
    assert json.loads((cells / f"{spec.cell_id}.json").read_text())["status"] == "ok"
    with np.load(cells / f"{spec.cell_id}.outputs.npz") as z:
        assert set(z.files) == set(tiny_run.batches)
        for k in z.files:
            assert z[k].dtype == np.float64
            np.testing.assert_allclose(z[k], tiny_run.reference[k], rtol=1e-4, atol=1e-5)


def test_high_cv_or_too_few_iterations_is_invalid(tiny_run) -> None:
    plan = TimingPlan(warmup_iters=0, warmup_s=0.0, min_iters=10**9, min_s=0.0, max_s=0.05)
    spec = plan_cells(tiny_run.run_dir, [tiny_run.artifacts["torch-script"]], ["ort-cpu"], ["cpu"], [1], [6], [1],
                      plan, {}, [], 40, parity=False)[0][0]
    row = run_cell(spec)
    assert row["status"] == "invalid" and "min_iters" in row["error"]


def test_worker_cli_runs_a_list_of_specs(tiny_run, tmp_path) -> None:
    specs = _specs(tiny_run, ["ort-cpu", "openvino"], parity=False)
    path = tmp_path / "specs.json"
    path.write_text(json.dumps([s.to_dict() for s in specs]))
    proc = subprocess.run([sys.executable, "-m", "twinbench.bench.worker", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for s in specs:
        row = json.loads((tiny_run.run_dir / "cells" / f"{s.cell_id}.json").read_text())
        assert row["status"] == "ok", row["error"]


@pytest.mark.slow
def test_failures_become_rows_and_the_run_continues(tiny_run, bad_runtimes) -> None:
    names = ["test-raise", "test-abort", "test-segfault", "test-hang", "ort-cpu"]
    specs = _specs(tiny_run, names, extra_modules=[bad_runtimes], parity=False)
    seen = []
    df = rows_frame(run_cells(specs, get_executor("local", timeout_s=8),
                              progress=lambda done, total, label: seen.append((done, total))))
    assert list(df.columns) == RESULTS_COLUMNS
    by_rt = {r.runtime: r for r in df.itertuples()}
    assert by_rt["test-raise"].status == "failed"
    # one line: a multi-line message is joined (libraries put the reason below a banner line)
    assert by_rt["test-raise"].error == "ValueError: this runtime always fails to load and says why on a second line"
    assert "SIGABRT" in by_rt["test-abort"].error and by_rt["test-abort"].status == "failed"
    assert "SIGSEGV" in by_rt["test-segfault"].error and by_rt["test-segfault"].status == "failed"
    assert "timed out" in by_rt["test-hang"].error and by_rt["test-hang"].status == "failed"
    assert by_rt["ort-cpu"].status == "ok", by_rt["ort-cpu"].error
    from twinbench.bench.memory import peak_rss_mb

    # the worker's own peak, not the (much larger) pytest parent's that getrusage would inherit
    assert 0 < by_rt["ort-cpu"].peak_rss_mb < peak_rss_mb()
    assert seen == [(i, 5) for i in range(1, 6)]
    log = (tiny_run.run_dir / "cells" / f"{specs[0].cell_id}.log").read_text()
    assert "Traceback" in log and "second line" in log


@pytest.mark.slow
def test_a_worker_over_its_memory_cap_is_a_failed_row(tiny_run, bad_runtimes) -> None:
    """Issue 22: nothing capped a worker's memory. Private memory past the cap is refused inside the
    worker (RLIMIT_DATA: a MemoryError row); memory that limit cannot see (shared pages) is caught
    by the driver watching the worker's resident memory, which kills it."""
    specs = _specs(tiny_run, ["test-hog", "test-hog-shared", "ort-cpu"], extra_modules=[bad_runtimes], parity=False)
    runs = run_cells(specs, get_executor("local", timeout_s=60, memory_mb=400))
    by_rt = {r.spec.runtime: r.row for r in runs}
    assert by_rt["test-hog"]["status"] == "failed" and "MemoryError" in by_rt["test-hog"]["error"]
    assert by_rt["test-hog-shared"]["status"] == "failed"
    assert "over the worker cap of 400 MB" in by_rt["test-hog-shared"]["error"], by_rt["test-hog-shared"]["error"]
    assert by_rt["ort-cpu"]["status"] == "ok", by_rt["ort-cpu"]["error"]  # 400 MB is plenty for a real cell


def test_in_process_failure_is_a_row(tiny_run, bad_runtimes) -> None:
    specs = _specs(tiny_run, ["test-raise"], extra_modules=[bad_runtimes], parity=False)
    df = rows_frame(run_cells(specs, get_executor("inprocess")))
    assert df.loc[0, "status"] == "failed" and "ValueError" in df.loc[0, "error"]


def test_missing_artifact_file_fails_cleanly(tiny_run, tmp_path) -> None:
    spec = _specs(tiny_run, ["ort-cpu"], parity=False)[0]
    d = spec.to_dict()
    d["artifact"] = dict(d["artifact"], path="artifacts/lstm/nope.onnx")
    d["cell_id"] = "missing-file"
    row = run_cells([CellSpec.from_dict(d)], get_executor("inprocess"))[0].row
    assert row["status"] == "failed" and row["error"]


def test_parity_failure_keeps_the_timing_row(tiny_run) -> None:
    spec = _specs(tiny_run, ["ort-cpu"])[0]
    d = dict(spec.to_dict(), parity_inputs="artifacts/lstm/missing.npz", cell_id="parity-missing")
    row = run_cell(CellSpec.from_dict(d))
    assert row["status"] == "ok"
    errors = json.loads((tiny_run.run_dir / "cells" / "parity-missing.outputs.json").read_text())["errors"]
    assert "*" in errors
