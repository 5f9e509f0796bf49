"""`twinbench gate` and `compare --remeasure` (twinbench/commands/gate.py): the looks are planned and
interleaved A B / B A, a look the time budget has no room for is not started, and, through the CLI
with real worker processes, an unchanged candidate raises no alarm, a real slowdown is a REGRESSION
decided early, and every verdict carries its evidence (processes, looks, interval, why it stopped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twinbench.bench.cells import CellSpec
from twinbench.bench.sequential import SequentialDesign
from twinbench.bench.timing import TimingPlan
from twinbench.commands.gate import OUT_OF_TIME, GateSettings, _Cell, _interleaved, _next_look, _pair
from twinbench.core.errors import ConfigError
from twinbench.exporters.artifact import Artifact


def _spec(run_dir: str, artifact: str = "torch-script", twin: str = "lstm", repeat: int = 0) -> CellSpec:
    art = Artifact(artifact, "onnx", f"artifacts/{twin}/{artifact}.onnx", twin, "torch", exporter=artifact)
    cell_id = f"{twin}.{artifact}.ort-cpu.cpu.b1.s8.t1"
    return CellSpec(cell_id=f"{cell_id}.r{repeat}" if repeat else cell_id, run_dir=run_dir, artifact=art.to_dict(),
                    runtime="ort-cpu", device="cpu", batch=1, seq_len=8, threads=1,
                    plan=TimingPlan(repeats=3).to_dict(), repeat=repeat, base_id=cell_id)


def test_cells_pair_by_key_and_the_calibration_cell_is_measured_once() -> None:
    a = [_spec("A", repeat=r) for r in range(3)] + [_spec("A", "calibration-add", "_calibration")]
    b = [_spec("B", repeat=r) for r in range(3)] + [_spec("B", "calibration-add", "_calibration"),
                                                     _spec("B", "only-here")]
    cells, rest = _pair(a, b)
    assert len(cells) == 1 and next(iter(cells.values())).a.run_dir == "A"
    assert sorted((s.run_dir, s.art.name) for s in rest) == [("A", "calibration-add"), ("B", "calibration-add"),
                                                             ("B", "only-here")]


def test_a_look_interleaves_both_sides_and_swaps_their_order_every_repeat() -> None:
    one = _Cell(None, _spec("A"), _spec("B"), have=3)  # type: ignore[arg-type]
    two = _Cell(None, _spec("A", "torch-dynamo"), _spec("B", "torch-dynamo"), have=0)  # type: ignore[arg-type]
    specs = _interleaved([(one, 5), (two, 3)])
    order = [(s.run_dir, s.art.name, s.repeat) for s in specs]
    assert order == [("A", "torch-dynamo", 0), ("B", "torch-dynamo", 0),
                     ("B", "torch-dynamo", 1), ("A", "torch-dynamo", 1),
                     ("A", "torch-dynamo", 2), ("B", "torch-dynamo", 2),
                     ("B", "torch-script", 3), ("A", "torch-script", 3),
                     ("A", "torch-script", 4), ("B", "torch-script", 4)]
    assert specs[0].parity_inputs is None or specs[0].repeat == 0
    assert {s.cell_id for s in specs if s.repeat == 4} == {"lstm.torch-script.ort-cpu.cpu.b1.s8.t1.r4"}


def test_a_look_the_budget_has_no_room_for_is_not_started() -> None:
    design = SequentialDesign()
    cheap = _Cell(None, _spec("A"), _spec("B"), have=3, seconds=[1.0] * 6)  # type: ignore[arg-type]
    dear = _Cell(None, _spec("A", "x"), _spec("B", "x"), have=5, seconds=[5.0] * 10)  # type: ignore[arg-type]
    plan = _next_look([dear, cheap], design, budget_left=10.0)
    assert plan == [(cheap, 5)]  # 2 more a side x 2 sides x 1 s; the other needs 3 x 2 x 5 s
    assert dear.stop == OUT_OF_TIME and cheap.stop == ""
    assert _next_look([cheap], design, budget_left=1.0) == [] and cheap.stop == OUT_OF_TIME


@pytest.mark.parametrize("kwargs, message", [({"max_repeats": 2}, "--max-repeats"),
                                             ({"time_budget_s": 0}, "--time-budget"),
                                             ({"alpha": 1.5}, "--alpha"),
                                             ({"min_effect": -0.1}, "--min-effect")])
def test_bad_gate_settings_are_one_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GateSettings(**kwargs)


def test_the_design_starts_at_the_runs_own_processes() -> None:
    s = GateSettings(max_repeats=12)
    assert s.design(3).looks == (3, 5, 8, 12) and s.design(1).looks == (3, 5, 8, 12)
    assert s.design(6).looks == (6, 9, 12) and s.design(20).looks == (20,)


def _tb(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TWINBENCH_HISTORY": "off"}
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _tb("gate", str(tmp_path / "nope"), str(tmp_path / "nope"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if "error" in ln] == [
        f"twinbench: error: {tmp_path / 'nope'}: run directory not found"]
    proc = _tb("compare", str(tmp_path), str(tmp_path), "--max-repeats", "5")
    assert proc.returncode == 2 and "--max-repeats: only with --remeasure" in proc.stderr


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    cfg = out / "tiny.toml"
    cfg.write_text('runtimes = ["ort-cpu"]\nexporters = ["torch-script"]\nbatches = [1]\n[training]\nepochs = 1\n'
                   '[timing]\nwarmup_iters = 20\nmin_iters = 50\nmin_s = 0.2\nmax_s = 2.0\nrepeats = 3\n')
    proc = _tb("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return Path(proc.stdout.split("report: ")[1].split()[0]).parent


def _gate(*args: str) -> tuple[int, dict]:
    proc = _tb("gate", *args, "--json", "-q")
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def _cells(summary: dict) -> list[dict]:
    return [c for c in summary["cells"] if c["kind"] == "speed"]


@pytest.mark.slow
def test_a_real_slowdown_is_a_regression_decided_early(source: Path, tmp_path: Path) -> None:
    import pandas as pd

    res = pd.read_parquet(source / "results.parquet")
    p50_ns = float(res[res.artifact == "torch-script"].p50_ms.iloc[0]) * 1e6
    slow_cfg = tmp_path / "slow.toml"
    slow_cfg.write_text(f'[runtime_settings.ort-cpu]\ntest_delay_ns = {{ "1" = {int(p50_ns)} }}\n')  # +100%
    proc = _tb("bench", str(source), "--out", str(tmp_path / "slow"), "--repeats", "1", "--config", str(slow_cfg))
    assert proc.returncode == 0, proc.stderr[-2000:]
    slow = Path(proc.stdout.split("report: ")[1].split()[0]).parent
    code, summary = _gate(str(source), str(slow), "--out", str(tmp_path / "g"))
    assert code == 1 and summary["regression"] and summary["command"] == "gate"
    (cell,) = _cells(summary)  # the calibration cell has no verdict in a gate
    assert cell["verdict"] == "REGRESSION" and cell["ratio"] > 1.5 and cell["stop"] == "decided"
    assert cell["looks"] <= 2 and cell["n_base"] >= 3 and cell["ci_low"] > 1.0
    assert summary["sequential"]["looks"] == [3, 5, 8, 12] and summary["looks"] == cell["looks"]
    cand = Path(summary["candidate_run"])
    assert (cand / "gate.md").is_file() and json.loads((cand / "gate.json").read_text())["exit_code"] == 1
    manifest = json.loads((cand / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["compared_with"] == summary["base_run"]
    record = next(iter(manifest["sequential"]["cells"].values()))
    assert record["looks"] == cell["looks"] and record["stop"] == "decided"
    repeats = pd.read_parquet(cand / "repeats.parquet")
    assert (repeats[repeats.artifact == "torch-script"].repeat.nunique()) == record["processes"]


@pytest.mark.slow
def test_an_unchanged_candidate_raises_no_alarm_and_the_budget_bounds_the_looks(source: Path, tmp_path: Path) -> None:
    code, summary = _gate(str(source), str(source), "--out", str(tmp_path), "--time-budget", "1")
    (cell,) = _cells(summary)
    assert code == 0 and cell["verdict"] in ("SAME", "INCONCLUSIVE")
    assert summary["looks"] == 1 and cell["looks"] == 1 and cell["n_base"] <= 3  # no room for a second look
    assert cell["verdict"] == "SAME" or cell["stop"] == "time budget"
    md = (Path(summary["candidate_run"]) / "gate.md").read_text()
    assert "| looks |" in md and "Sequential: looks at 3/5/8/12" in md


@pytest.mark.slow
def test_compare_remeasure_is_sequential_too(source: Path) -> None:
    proc = _tb("compare", str(source), str(source), "--remeasure", "--max-repeats", "5")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "sequential, interleaved re-measurement" in proc.stdout and "Sequential: looks at 3/5" in proc.stdout
    assert "| REGRESSION |" not in proc.stdout
