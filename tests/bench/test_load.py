"""Server and Offline through MLPerf LoadGen (bench/load/): settings, the search, LoadGen's logs,
the planner, real LoadGen runs (a slowed runtime sustains less; a crash under load is a failed row
and the run goes on), the load table, the report section and the CLI's exit 2 on bad settings."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from twinbench.bench.cells import CellSpec, plan_cells
from twinbench.bench.executors import get_executor
from twinbench.bench.load.logs import parse_result
from twinbench.bench.load.search import find_max_qps
from twinbench.bench.load.settings import LoadSettings, check_scenarios, early_stopping_queries
from twinbench.bench.load.table import headline_rows, split_load
from twinbench.core.rows import load_row
from twinbench.bench.runner import run_cells
from twinbench.core.schema import LOAD_COLUMNS
from twinbench.core.errors import ConfigError

HERE = Path(__file__).parent
#: Short LoadGen runs for tests: p90 needs only 44 queries for LoadGen's early stopping.
FAST = {"duration_s": 0.5, "percentile": 90.0, "latency_bound_ms": 50.0, "search_runs": 6, "search_s": 12.0,
        "tolerance": 0.25, "streams": [1], "server_streams": 1, "max_batch": [1, 4], "samples": 64}


# settings -------------------------------------------------------------------------------------
@pytest.mark.parametrize("values, needle", [
    ({"qps": 0}, "load.qps: must be > 0"),
    ({"qps": -5.0}, "load.qps: must be > 0"),
    ({"latency_bound_ms": -1}, "load.latency_bound_ms: must be > 0"),
    ({"latency_bound_ms": None}, "latency_bound_ms: missing"),
    ({"percentile": 100}, "load.percentile"),
    ({"streams": [1, 0]}, "load.streams"),
    ({"max_batch": []}, "load.max_batch: at least one"),
    ({"qps_target": 5}, "unknown key(s) qps_target"),
])
def test_bad_load_settings_are_config_errors(values: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        LoadSettings.from_mapping(values)
    assert needle in str(info.value)


def test_scenarios_and_defaults() -> None:
    assert check_scenarios(["server", "offline", "server"]) == ("server", "offline")
    with pytest.raises(ConfigError, match="unknown scenario 'serve'"):
        check_scenarios(["serve"])
    s = LoadSettings.from_mapping({"streams": 2, "max_batch": [8, 1]})
    assert s.streams == (2,) and s.server_concurrency == 2 and s.max_batch == (8, 1)
    # LoadGen's early stopping needs this many queries with none over the bound (it says 459 for p99)
    assert early_stopping_queries(99.0) == 459 and early_stopping_queries(90.0) == 44
    assert LoadSettings().queries == 459 and LoadSettings(min_queries=10).queries == 10


def test_run_config_rejects_bad_scenario_settings_before_anything_runs() -> None:
    from twinbench.config import load_config

    with pytest.raises(ConfigError, match=r"scenarios\[1\]: unknown value 'burst' \(known: 'single-stream'"):
        load_config(None, {"scenarios": ("server", "burst")})
    with pytest.raises(ConfigError, match="qps"):
        load_config(None, {"scenarios": ("server",), "load": {"qps": 0}})
    cfg = load_config(None, {"scenarios": ("server", "offline"), "load": {"qps": 50, "streams": [1, 2]}})
    assert cfg.scenarios == ("server", "offline") and cfg.load.qps == 50


# the search -------------------------------------------------------------------------------------
def _sut(capacity: float, calls: list[float]) -> Any:
    """A SUT that is VALID below `capacity` and, above it, completes only `capacity` QPS."""

    def probe(q: float) -> tuple[bool, float]:
        calls.append(q)
        return q <= capacity, min(q, capacity)

    return probe


def test_search_converges_within_tolerance_from_either_side() -> None:
    for start in (50.0, 900.0, 40000.0):
        calls: list[float] = []
        r = find_max_qps(_sut(1000.0, calls), start, max_runs=30, budget_s=1e9, tolerance=0.05)
        assert r.stopped == "converged" and 1000.0 / 1.05 <= r.best_qps <= 1000.0
        assert r.lowest_invalid > 1000.0 and r.runs == len(calls) <= 14
    calls = []
    find_max_qps(_sut(1000.0, calls), 40000.0, max_runs=30, budget_s=1e9, tolerance=0.05)
    assert calls[1] == pytest.approx(900.0)  # an overloaded run measures the capacity: no halving down from 40k


def test_search_is_bounded_in_runs_and_time() -> None:
    calls: list[float] = []
    r = find_max_qps(_sut(1000.0, calls), 100.0, max_runs=3, budget_s=1e9, tolerance=0.001)
    assert r.runs == 3 and r.stopped == "run limit"
    clock = iter(range(0, 1000, 10))  # every reading 10 s later
    r = find_max_qps(_sut(1000.0, []), 100.0, max_runs=30, budget_s=35, tolerance=0.001,
                     clock=lambda: float(next(clock)), run_cost_s=lambda q: 1.0)
    assert r.stopped == "time limit" and r.runs == 3
    r = find_max_qps(_sut(0.0, []), 100.0, max_runs=30, budget_s=1e9, tolerance=0.05, floor_qps=1.0)
    assert r.best_qps is None and r.stopped.startswith("no valid rate")


# LoadGen's detail log -----------------------------------------------------------------------------
def _mllog(**kv: Any) -> dict[str, Any]:
    return kv


def test_parse_result_names_the_failed_checks() -> None:
    detail = _mllog(effective_scenario="Server", result_validity="INVALID", result_perf_constraints_met=False,
                    result_min_duration_met=True, result_min_queries_met=True, early_stopping_met=False,
                    result_invalid_reason="Reduce target QPS to improve latency. ",
                    early_stopping_result=" * Run unsuccessful.\n * Processed 10 queries.",
                    result_completed_samples_per_sec=950.5, result_scheduled_samples_per_sec=1000.2,
                    result_query_count=1500, result_overlatency_query_count=40,
                    **{"result_99.00_percentile_latency_ns": 12_500_000, "result_99.90_percentile_latency_ns": 2e7,
                       "result_min_latency_ns": 100_000, "result_mean_latency_ns": 2_000_000,
                       "result_max_latency_ns": 30_000_000})
    r = parse_result(detail)
    assert not r.valid and r.scenario == "server" and r.qps == 950.5 and r.queries == 1500
    assert r.reason == "latency bound not met; early stopping not met; LoadGen: Reduce target QPS to improve latency."
    assert r.latency_ms["p99"] == 12.5 and r.latency_ms["p99.9"] == 20.0 and r.latency_ms["min"] == 0.1
    assert r.early_stopping == "Run unsuccessful. Processed 10 queries." and r.overlatency_queries == 40
    ok = parse_result(_mllog(effective_scenario="Offline", result_validity="VALID", result_samples_per_second=5e4,
                             result_query_count=1, generated_samples_per_query=8000))
    assert ok.valid and ok.reason == "" and ok.qps == 5e4 and ok.samples == 8000 and math.isnan(ok.scheduled_qps)


# planning -----------------------------------------------------------------------------------------
@pytest.fixture()
def add_run(tmp_path: Path) -> tuple[Path, Any]:
    from twinbench.bench.calibration import calibration_artifact

    return tmp_path, calibration_artifact(tmp_path)


def test_scenarios_are_a_dimension_of_the_plan(add_run) -> None:
    run_dir, art = add_run
    specs, _ = plan_cells(run_dir, [art], ["ort-cpu"], ["cpu"], [1, 8], [6], [1], {"repeats": 2},
                          scenarios=["single-stream", "server", "offline"], load={"max_batch": [1, 16]})
    ids = [s.cell_id for s in specs]
    assert [s.scenario for s in specs] == ["single-stream"] * 2 + ["server", "offline"] + ["single-stream"] * 2
    assert ids[2].endswith(".b1.s6.t1.server") and ids[3].endswith(".b16.s6.t1.offline")
    assert ids[4].endswith(".b1.s6.t1.r1")  # repeats are single-stream processes only
    assert specs[2].load == {"max_batch": [1, 16]}
    old = {k: v for k, v in specs[0].to_dict().items() if k not in ("scenario", "load")}
    assert CellSpec.from_dict(old).scenario == "single-stream"  # old spec files stay valid
    with pytest.raises(ConfigError, match="unknown scenario 'burst'"):
        CellSpec.from_dict(dict(old, scenario="burst"))


# real LoadGen runs ----------------------------------------------------------------------------------
@pytest.fixture()
def load_runtimes() -> Any:
    """Registers the load test runtimes in this process (workers import them by path) and removes
    them afterwards."""
    from twinbench.bench.runtimes import RUNTIMES
    from twinbench.models.registry import load_twin_module

    before = set(RUNTIMES)
    load_twin_module(str(HERE / "load_runtimes.py"))
    import sys

    for mod in [m for m in sys.modules if m.startswith("twinbench_user_load_runtimes")]:
        sys.modules[mod].register_all()
    yield
    for name in set(RUNTIMES) - before:
        RUNTIMES.remove(name)


def _load_specs(run_dir: Path, art: Any, runtimes: list[str], scenario: str, settings: dict | None = None,
                **load: Any) -> list[CellSpec]:
    specs, skipped = plan_cells(run_dir, [art], runtimes, ["cpu"], [1], [6], [1], settings=settings or {},
                                scenarios=[scenario], load={**FAST, **load}, parity=False,
                                extra_modules=[str(HERE / "load_runtimes.py")])
    assert not skipped
    return specs


def _rows(spec: CellSpec) -> list[dict[str, Any]]:
    return json.loads((Path(spec.run_dir) / "cells" / f"{spec.cell_id}.load.json").read_text())


@pytest.mark.slow
def test_offline_cell_tries_every_batch_and_keeps_loadgen_logs(add_run) -> None:
    run_dir, art = add_run
    spec = _load_specs(run_dir, art, ["ort-cpu"], "offline")[0]
    row = run_cells([spec], get_executor("inprocess"))[0].row
    assert row["status"] == "ok", row["error"]
    rows = _rows(spec)
    assert set(LOAD_COLUMNS) <= set(rows[0])
    assert {r["batch"] for r in rows} == {1, 4} and all(r["streams"] == 1 for r in rows)
    best = [r for r in rows if r["headline"]]
    assert len(best) == 1 and best[0]["valid"] and best[0]["achieved_qps"] == max(r["achieved_qps"] for r in rows
                                                                                   if r["valid"])
    log = run_dir / best[0]["log_dir"]
    assert (log / "mlperf_log_summary.txt").is_file() and (log / "mlperf_log_detail.txt").is_file()
    assert not (log / "mlperf_log_trace.json").exists()
    settings = json.loads(best[0]["runtime_settings"])
    assert settings["streams"] == 1 and settings["intra_op_threads"] == 1 and settings["max_batch"] == best[0]["batch"]


@pytest.mark.slow
def test_a_slowed_runtime_sustains_a_lower_max_qps(add_run, load_runtimes) -> None:
    run_dir, art = add_run
    figures = {}
    for wait in (0.0, 4.0):
        spec = _load_specs(run_dir, art, ["test-busy"], "server", {"test-busy": {"busy_wait_ms": wait}})[0]
        spec = CellSpec.from_dict(dict(spec.to_dict(), cell_id=f"{spec.cell_id}.w{wait:g}"))
        row = run_cells([spec], get_executor("local", timeout_s=120))[0].row
        assert row["status"] == "ok", row["error"]
        rows = _rows(spec)
        best = [r for r in rows if r["headline"]]
        assert best, [(r["target_qps"], r["loadgen_reason"]) for r in rows]
        assert all(r["loadgen_result"] in ("VALID", "INVALID") for r in rows)
        assert best[0]["valid"] and best[0]["p90_ms"] <= 50.0
        figures[wait] = best[0]["target_qps"]
    # 4 ms of work per query caps one stream at 250 QPS (the search's 5% tolerance and a short
    # LoadGen run's slack allow a little above: 259 seen); unslowed, the same runtime does thousands
    assert figures[4.0] <= 250 * 1.2 and figures[4.0] < 0.5 * figures[0.0], figures


@pytest.mark.slow
def test_a_server_run_whose_queue_cannot_drain_is_stopped_and_invalid(add_run, load_runtimes) -> None:
    """Issue 22: a target rate far above what the SUT serves (here 20 ms per query, 50 QPS, asked
    for 2000 QPS) queued a minute of work that LoadGen waited out; each run now stops at its limit
    (2 x its 0.5 s schedule + 2 s) and is INVALID with the reason."""
    import time

    run_dir, art = add_run
    spec = _load_specs(run_dir, art, ["test-busy"], "server", {"test-busy": {"busy_wait_ms": 20.0}},
                       qps=2000.0, search_runs=1)[0]
    t0 = time.perf_counter()
    row = run_cells([spec], get_executor("local", timeout_s=120))[0].row
    elapsed = time.perf_counter() - t0
    assert row["status"] == "ok", row["error"]
    target = [r for r in _rows(spec) if r["step"] == "target"][0]
    assert target["loadgen_result"] == "INVALID" and not target["valid"]
    assert "queue could not drain" in target["loadgen_reason"], target["loadgen_reason"]
    assert target["achieved_qps"] < 100  # what the SUT really ran, not the answered-unrun samples
    assert elapsed < 40, elapsed  # unbounded: 1000 queued queries x 20 ms = 20 s per run and more


@pytest.mark.slow
def test_a_crash_under_load_is_a_failed_row_and_the_run_goes_on(add_run, load_runtimes) -> None:
    run_dir, art = add_run
    specs = _load_specs(run_dir, art, ["test-crash-load", "test-abort-load", "ort-cpu"], "offline",
                        max_batch=[2])
    kept, load = split_load(run_cells(specs, get_executor("local", timeout_s=120)))
    assert kept == []
    heads = headline_rows(load).set_index("runtime")
    assert heads.loc["test-crash-load", "status"] == "failed"
    assert "MemoryError: test runtime ran out of memory under load" in heads.loc["test-crash-load", "error"]
    assert heads.loc["test-abort-load", "status"] == "failed" and "SIGABRT" in heads.loc["test-abort-load", "error"]
    assert heads.loc["ort-cpu", "status"] == "ok" and bool(heads.loc["ort-cpu", "headline"])
    assert not load[load["runtime"] != "ort-cpu"]["headline"].astype(bool).any()


# the table, the report, compare --------------------------------------------------------------------
def _synthetic_load() -> pd.DataFrame:
    key = {"twin": "lstm", "artifact": "torch-dynamo", "exporter": "torch-dynamo", "source": "torch",
           "precision": "fp32", "device": "cpu", "batch": 1, "seq_len": 16, "threads": 1}
    rows = []
    for rt, cap in (("ort-cpu", 2000.0), ("openvino", 3000.0)):
        for i, q in enumerate((0.3 * cap, 0.7 * cap, 1.05 * cap, 0.9 * cap), 1):
            valid = q <= cap
            rows.append(load_row(dict(key, runtime=rt), scenario="server", step="search", run_index=i, streams=2,
                                 target_qps=q, achieved_qps=min(q, cap), p99_ms=1.0 if valid else 80.0,
                                 p50_ms=0.5, latency_bound_ms=10.0, percentile=99.0, valid=valid,
                                 loadgen_result="VALID" if valid else "INVALID",
                                 headline=q == 0.9 * cap, search_stop="converged after 4 runs"))
        for b, sps in ((1, cap), (32, 8 * cap)):
            rows.append(load_row(dict(key, runtime=rt, batch=b), scenario="offline", step="sweep", streams=2,
                                 target_qps=sps, achieved_qps=sps, valid=True, loadgen_result="VALID",
                                 headline=b == 32))
    rows.append(load_row(dict(key, runtime="torch", artifact="torch", exporter="native"), scenario="server",
                         status="failed", error="worker crashed (SIGABRT)"))
    return pd.DataFrame(rows, columns=LOAD_COLUMNS)


class _Run:
    def __init__(self, load: pd.DataFrame) -> None:
        self.load = load
        self.results = pd.DataFrame(columns=["twin"])


def test_report_section_ranks_max_qps_and_draws_the_curves() -> None:
    from twinbench.reports.load import latency_vs_qps, load_blocks, offline_throughput
    from twinbench.reports.markdown import blocks_to_markdown

    run = _Run(_synthetic_load())
    md = blocks_to_markdown(load_blocks(run))
    server = md.split("Server, max QPS")[1].split("Offline throughput")[0]
    assert server.index("| 1 | torch-dynamo | openvino") < server.index("| 2 | torch-dynamo | ort-cpu")
    assert "2.7e+03" in md or "2700" in md
    assert "failed: worker crashed (SIGABRT)" in md
    assert "| 1 | torch-dynamo | openvino | cpu | 24000 | 2 | 32 |" in md
    assert latency_vs_qps(run, "lstm") is not None and offline_throughput(run, "lstm") is not None
    assert latency_vs_qps(run, "other") is None


def _run_data(name: str, load: pd.DataFrame, fingerprint: str = "m1") -> Any:
    from twinbench.core.manifest import parse_manifest
    from twinbench.core.schema import RESULTS_COLUMNS, SCHEMA_VERSION
    from twinbench.reports.tables import RunData

    manifest = parse_manifest({"schema_version": SCHEMA_VERSION, "run_id": name, "status": "complete", "versions": {},
                               "machine": {"fingerprint": fingerprint, "cpu_model": "cpu"}, "config": {}},
                              Path(name) / "manifest.json")
    return RunData(path=Path(name), manifest=manifest, results=pd.DataFrame(columns=RESULTS_COLUMNS),
                   parity=pd.DataFrame(), training=pd.DataFrame(), load=load)


def test_compare_and_hardware_include_load_rows(monkeypatch) -> None:
    from twinbench.reports import hardware
    from twinbench.reports.compare import compare_loaded, compare_markdown, has_regression

    base = _synthetic_load()
    cand = base.copy()
    slower = (cand["runtime"] == "ort-cpu") & (cand["scenario"] == "server")
    cand.loc[slower, "target_qps"] = cand.loc[slower, "target_qps"] * 0.5
    faster = (cand["runtime"] == "openvino") & (cand["scenario"] == "offline")
    cand.loc[faster, "achieved_qps"] = cand.loc[faster, "achieved_qps"] * 1.05
    df = compare_loaded(_run_data("a", base), _run_data("b", cand))
    load = df[df["kind"] == "load"].set_index(["runtime", "scenario"])
    assert load.loc[("ort-cpu", "server"), "verdict"] == "REGRESSION"
    assert load.loc[("ort-cpu", "server"), "ratio"] == pytest.approx(0.5)
    assert load.loc[("openvino", "offline"), "verdict"] == "SAME"  # 5%: inside the load noise guard
    assert ("torch", "server") not in load.index  # failed in both runs: nothing to compare
    assert has_regression(df) and "## Load (MLPerf LoadGen)" in compare_markdown(df)

    runs = {"a": _run_data("a", base), "b": _run_data("b", cand, "m2")}
    monkeypatch.setattr("twinbench.reports.hardware.load_run", lambda d: runs[str(d)])
    table = hardware.hardware_table(["a", "b"], baseline=0)
    wide = table.attrs["load"].set_index(["runtime", "scenario"])
    assert wide.loc[("ort-cpu", "server"), "m1 vs base"] == pytest.approx(0.5)
    assert "Server max QPS" in hardware.hardware_markdown(table)


@pytest.mark.parametrize("args, needle", [
    (["--scenario", "burst"], "scenarios[0]: unknown value 'burst'"),
    (["--scenario", "server", "--qps", "0"], "load.qps: must be > 0"),
    (["--scenario", "server", "--latency-bound", "-5"], "load.latency_bound_ms: must be > 0"),
    (["--scenario", "offline", "--streams", "0"], "load.streams"),
    (["CONFIG"], "load.latency_bound_ms: expected a number, got NoneType None"),
])
def test_cli_bad_scenario_settings_exit_2_before_training(tmp_path: Path, args: list[str], needle: str) -> None:
    import os
    import subprocess
    import sys

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"scenarios": ["server"], "load": {"latency_bound_ms": None}}))
    args = [str(config) if a == "CONFIG" else a for a in args]
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", *args, "--out", str(out)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("twinbench: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()  # nothing trained, no run directory
