"""CI-friendly output: `--json` summaries a script can parse, no TensorFlow/absl lines on stderr,
full-width plain tables in a pipe, timing presets, machine info and `check-system`."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from twinbench.core.errors import ConfigError
from twinbench.core.machine import fingerprint, machine_info, row_fingerprints
from twinbench.presets import TIMING_PRESETS, timing_overrides
from twinbench.core.quiet import is_noise
from twinbench.summary import SCHEMA_VERSION, _clean

#: What a TensorFlow/absl line on stderr looks like (any level), for the end-to-end check.
TF_LINE = re.compile(r"^[IWEF]\d{4} |absl::|oneDNN|tensorflow/|TF_ENABLE_ONEDNN_OPTS|cuda_|XLA")


def twinbench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True,
                          timeout=timeout, env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})


def test_noise_filter_drops_info_and_warning_lines_only() -> None:
    assert is_noise(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert is_noise(b"I0000 00:00:1795467742.815534    8239 port.cc:153] oneDNN custom operations are on.")
    assert is_noise(b"W0000 00:00:12.5 11 cpu_feature_guard.cc:1] something")
    assert is_noise(b"2024-01-01 12:00:00.123456: I tensorflow/core/platform/cpu_feature_guard.cc:182] x")
    assert not is_noise(b"E0000 00:00:17.1 1 a.cc:1] a real error")
    assert not is_noise(b"twinbench: error: unknown runtime 'x'")


def test_timing_presets_and_explicit_options() -> None:
    assert timing_overrides() == {}
    assert timing_overrides(fast=True) == dict(TIMING_PRESETS["fast"])
    rig = timing_overrides(rigorous=True, repeats=9, min_time=5.0)
    assert rig["repeats"] == 9 and rig["min_s"] == 5.0 and rig["max_s"] == TIMING_PRESETS["rigorous"]["max_s"]
    assert timing_overrides(min_iters=7, max_time=2.0) == {"min_iters": 7, "max_s": 2.0}
    with pytest.raises(ConfigError, match="choose one"):
        timing_overrides(fast=True, rigorous=True)
    with pytest.raises(ConfigError, match="below --min-time"):
        timing_overrides(min_time=3.0, max_time=1.0)


def test_presets_are_valid_timing_plans() -> None:
    from twinbench.bench.timing import TimingPlan

    for values in TIMING_PRESETS.values():
        TimingPlan(**dict(values))


def test_json_summary_has_no_nan() -> None:
    doc = _clean({"a": float("nan"), "b": [1.0, float("inf")], "c": Path("/x"), 1: True})
    assert json.loads(json.dumps(doc, allow_nan=False)) == {"a": None, "b": [1.0, None], "c": "/x", "1": True}


def test_machine_info_keeps_the_fingerprint_and_adds_details() -> None:
    info = machine_info()
    gpu = info["gpu"]["name"] if info["gpu"] else None
    assert info["fingerprint"] == fingerprint(info["cpu_model"], info["cpu_cores"], gpu)
    key = f"{info['cpu_model']}|{info['cpu_cores']}|{gpu or '-'}|{platform.system()}|{platform.machine()}"
    import hashlib

    assert info["fingerprint"] == hashlib.sha1(key.encode()).hexdigest()[:16]  # same meaning as schema 1
    for name in ("cpu", "frequency", "virtualization", "memory_available_gb"):
        assert name in info
    if platform.machine() == "x86_64":
        assert "sse2" in info["cpu_flags"] and len(info["cpu_flags"]) > 20  # every flag, not a chosen few
    json.dumps(info)


def test_row_fingerprints_prefer_the_node() -> None:
    manifest = {"machine": {"fingerprint": "local"}}
    infos = [None, "", json.dumps({"fingerprint": "node"}), {"fingerprint": "dict"}, "not json"]
    assert row_fingerprints(infos, manifest, 5) == ["local", "local", "node", "dict", "local"]
    assert row_fingerprints(None, manifest, 2) == ["local", "local"]


def test_version() -> None:
    from twinbench import __version__

    proc = twinbench("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"twinbench {__version__}"


def test_check_system_verdict_json_and_full_width_table() -> None:
    proc = twinbench("check-system", "--seconds", "0.5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("verdict: ")
    assert "fast/slow state" in proc.stdout and "load average" in proc.stdout
    assert "…" not in proc.stdout  # piped: no cut cells
    doc = json.loads(twinbench("check-system", "--seconds", "0.3", "--json").stdout)
    assert doc["verdict"] in ("QUIET", "NOISY")
    assert {f["level"] for f in doc["findings"]} <= {"ok", "warn", "info"}


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    """One real `twinbench run --json`, piped into json.load exactly as a CI step would."""
    out = tmp_path_factory.mktemp("runs")
    args = ["run", "-t", "lstm", "-e", "torch-script", "-r", "ort-cpu", "-b", "1", "--epochs", "1", "--fast",
            "--json", "--out", str(out)]
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "twinbench", *args])
    check = (f"{shlex.quote(sys.executable)} -c 'import json,sys; d=json.load(sys.stdin); "
             f"assert d[\"schema_version\"] == {SCHEMA_VERSION} and d[\"summary\"].startswith(\"twinbench \"), d; "
             f"assert d[\"lead\"][\"fastest\"], d; print(d[\"run_dir\"])'")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    err = out / "stderr.txt"
    proc = subprocess.run(f"set -o pipefail; {cmd} 2>{shlex.quote(str(err))} | {check}", shell=True,
                          executable="/bin/bash", capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr, err.read_text())
    run_dir = Path(proc.stdout.strip())
    return json.loads((run_dir / "manifest.json").read_text()), err.read_text(), run_dir


def test_run_json_parses_and_stderr_has_no_tensorflow_lines(json_run: tuple[dict, str, Path]) -> None:
    manifest, stderr, run_dir = json_run
    noisy = [line for line in stderr.splitlines() if TF_LINE.search(line)]
    assert not noisy, noisy
    assert "torch epoch 1" in stderr and "keras epoch 1" in stderr  # training progress, per epoch
    results = pd.read_parquet(run_dir / "results.parquet")
    assert list(results.columns).index("machine_fingerprint") > list(results.columns).index("machine_info")
    assert set(results["machine_fingerprint"]) == {manifest["machine"]["fingerprint"]}
    assert manifest["config"]["timing"]["repeats"] == TIMING_PRESETS["fast"]["repeats"]
    assert manifest["machine"]["cpu"] and manifest["machine"]["frequency"] is not None


def test_run_json_summary_fields(json_run: tuple[dict, str, Path]) -> None:
    _, _, run_dir = json_run
    proc = twinbench("parity", str(run_dir), "-r", "ort-cpu", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["command"] == "parity" and doc["parity"] == "PASS" and doc["parity_verdicts"]["PASS"] > 0
    assert not [line for line in proc.stderr.splitlines() if line.strip()]  # --quiet: nothing on stderr
    line = twinbench("report", str(run_dir), "--summary")
    assert line.returncode == 0 and line.stdout.startswith(f"twinbench {run_dir.name} | parity PASS")
    cmp = twinbench("compare", str(run_dir), str(run_dir), "--json")
    doc = json.loads(cmp.stdout)
    assert doc["command"] == "compare" and doc["regression"] is False and sum(doc["verdicts"].values()) > 0
    assert cmp.returncode == doc["exit_code"] == 0


def test_json_error_is_still_one_json_object() -> None:
    proc = twinbench("run", "-t", "no-such-twin", "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc == {"schema_version": SCHEMA_VERSION, "command": "run", "exit_code": 2, "error": doc["error"]}
    assert "no-such-twin" in doc["error"]
    assert proc.stderr.strip().splitlines()[-1].startswith("twinbench: error: unknown twin")


def test_report_header_rows_only_where_recorded() -> None:
    from twinbench.core.machine import summary_rows

    assert summary_rows({"cpu_model": "old manifest", "cpu_cores": 2}) == []
    rows = dict(summary_rows(machine_info()))
    assert set(rows) == {"CPU details", "frequency", "virtualization"}
    assert "governor" in rows["frequency"] and "flags" in rows["CPU details"]


def test_check_system_judgements() -> None:
    from twinbench.commands.check_system import Finding, _busy, _governor, _states, _steal, _turbo, verdict

    assert _steal([100, 0, 0, 800, 0, 0, 0, 0], [150, 0, 0, 900, 0, 0, 0, 50]).level == "warn"  # 50/200 stolen
    assert _steal([100, 0, 0, 800, 0, 0, 0, 0], [200, 0, 0, 900, 0, 0, 0, 0]).level == "ok"
    hz = os.sysconf("SC_CLK_TCK")
    busy = _busy({1: ("a", 0), 2: ("b", 0)}, {1: ("a", hz), 2: ("b", hz // 100)}, 1.0)
    assert busy.level == "warn" and "a[1] 100%" in busy.value and "b[2]" not in busy.value
    assert _governor("powersave").level == "warn" and _governor("performance").level == "ok"
    assert _governor(None).level == "info" and _turbo(True).level == "warn" and _turbo(False).level == "ok"
    assert _states({"rounds": 10, "slow_fraction": 0.3, "flips": 4, "slow_over_fast": 1.7}).level == "warn"
    assert verdict([Finding("x", "1", "ok"), Finding("y", "2", "info")]).startswith("verdict: QUIET")
    assert verdict([Finding("x", "1", "warn")]) == "verdict: NOISY: 1 finding(s) make timings noisy (x)"
