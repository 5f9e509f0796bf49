"""Executors are one file each: a module in bench/executors/ (or any module given with
--twin-module) that registers a factory is discovered, checked with the config and runs real cells."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import twinbench.bench.executors as executors_pkg
from twinbench.bench.executors.base import EXECUTORS, CommonOptions, get_executor
from twinbench.config import check_config, load_config
from twinbench.core.errors import ConfigError

NAME = "probe-serial"
#: A whole executor in one file: the local executor's worker processes, one at a time, with its own
#: options schema (checked with the config like every executor's).
MODULE = textwrap.dedent('''
    """`probe-serial`: fresh worker processes one at a time, untimed cells never grouped."""

    from __future__ import annotations

    from dataclasses import dataclass

    from twinbench.bench.executors.base import CommonOptions, register_executor
    from twinbench.bench.executors.local import LocalExecutor


    @dataclass(frozen=True)
    class SerialOptions(CommonOptions):
        label: str = "serial"


    @register_executor("probe-serial", options=SerialOptions)
    def probe_serial(options: SerialOptions) -> LocalExecutor:
        return LocalExecutor(timeout_s=options.timeout_s, group_untimed=False)
''')


@pytest.fixture
def executor_in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with EXECUTORS.scoped():  # the built-ins discovered first, so they are what is restored
        (tmp_path / "probe_serial.py").write_text(MODULE, encoding="utf-8")
        monkeypatch.setattr(executors_pkg, "__path__", [*executors_pkg.__path__, str(tmp_path)])
        monkeypatch.delitem(sys.modules, "twinbench.bench.executors.probe_serial", raising=False)
        yield tmp_path / "probe_serial.py"
    sys.modules.pop("twinbench.bench.executors.probe_serial", None)


def test_a_module_in_the_executors_folder_is_a_registered_executor(executor_in_folder: Path) -> None:
    assert NAME not in EXECUTORS
    assert NAME in EXECUTORS.discover(rescan=True)
    executor = get_executor(NAME, timeout_s=30, label="x")
    assert executor.timeout_s == 30 and executor.group_untimed is False
    with pytest.raises(ConfigError, match=r"executor \(probe-serial\): unknown key\(s\) colour"):
        get_executor(NAME, colour="red")


def test_the_builtin_executors_declare_their_options() -> None:
    assert {"local", "inprocess", "ray"} <= set(EXECUTORS.names())
    for name, entry in EXECUTORS.items():
        assert issubclass(entry.options, CommonOptions), name


def test_an_unknown_executor_or_option_is_refused_by_the_config_check() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'nope'"):
        check_config(load_config(None, {"executor": {"kind": "nope"}}))
    with pytest.raises(ConfigError, match=r"executor \(local\): unknown key\(s\) adress"):
        load_config(None, {"executor": {"adress": "x"}})
    with pytest.raises(ConfigError, match=r"executor \(local\)\.timeout_s: must be > 0"):
        load_config(None, {"executor": {"timeout_s": -1}})


@pytest.mark.slow
def test_a_one_file_executor_runs_a_real_pipeline(tmp_path: Path) -> None:
    module = tmp_path / "my_executor.py"
    module.write_text(MODULE, encoding="utf-8")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'twin_modules = ["{module.name}"]\n[executor]\nkind = "{NAME}"\nlabel = "ci"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "twinbench", "run", str(cfg), "-t", "mlp", "-r", "ort-cpu", "-e", "torch-script",
         "-b", "1", "--epochs", "1", "--fast", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = Path(proc.stdout.split("report: ")[1].splitlines()[0].strip()).parent
    res = pd.read_parquet(run_dir / "results.parquet")
    cell = res[(res.twin == "mlp") & (res.runtime == "ort-cpu")]
    assert len(cell) == 1 and cell.status.iloc[0] in ("ok", "invalid") and cell.p50_ms.iloc[0] > 0
