"""The command-line habits of pytest-benchmark, pyperf, asv and optimum-benchmark users: `--config`
wherever a command takes a config, `--set key.sub=value` overrides, `--json` / `--json-out FILE` on
every command with a `schema_version` (a usage error too), help texts printed as written, and one
module per command that the Python API mirrors."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from twinbench import api
from twinbench.cli import app
from twinbench.commands.bench import bench_overrides
from twinbench.commands.parity import judge_options
from twinbench.config import load_config
from twinbench.core.errors import ConfigError
from twinbench.overrides import apply_sets, literal, parse_set
from twinbench.summary import SCHEMA_VERSION

sys.path.insert(0, str(Path(__file__).resolve().parent / "reports"))  # reportlib: recorded runs
from reportlib import make_run  # noqa: E402

GROUP = get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]
#: The Python API's function(s) for each command (twinbench/commands/__init__.py's table).
API = {"run": ["run"], "bench": ["bench"], "parity": ["parity", "judge"], "compare": ["compare", "has_regression"], "gate": ["gate"],
       "report": ["report", "summary"], "hardware": ["hardware"], "history": ["history", "steps"],
       "export": ["export"], "check-system": ["check_system"], "list": ["listing"]}


def twinbench(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})


def one_error_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("twinbench: error:") and needle in lines[0], proc.stderr


# --set ----------------------------------------------------------------------------------------------

def test_set_values_are_toml_literals_else_strings() -> None:
    assert literal("5") == 5 and literal("0.5") == 0.5 and literal("true") is True
    assert literal('["ort-cpu", "openvino"]') == ["ort-cpu", "openvino"]
    assert literal("{ repeats = 5 }") == {"repeats": 5}
    assert literal('"quoted"') == "quoted" and literal("synthetic-pos") == "synthetic-pos"
    assert literal("1\nx = 2") == "1\nx = 2"  # never two keys from one value
    assert parse_set("runtime_settings.ort-cpu.graph_optimization = all") == (
        ("runtime_settings", "ort-cpu", "graph_optimization"), "all")
    for bad in ("timing.repeats", "=5", "timing..repeats=5", "a b=1"):
        with pytest.raises(ConfigError, match="expected KEY=VALUE"):
            parse_set(bad)


def test_sets_merge_into_tables_key_by_key() -> None:
    base = {"timing": {"min_s": 1.0}, "runtimes": ["torch"]}
    out = apply_sets(base, ["timing.repeats=5", 'runtimes=["ort-cpu"]', "runtime_settings.openvino.threads=2",
                            "timing={ max_s = 4.0 }"])
    assert out == {"timing": {"min_s": 1.0, "repeats": 5, "max_s": 4.0}, "runtimes": ["ort-cpu"],
                   "runtime_settings": {"openvino": {"threads": 2}}}
    assert base == {"timing": {"min_s": 1.0}, "runtimes": ["torch"]}  # the caller's mapping is untouched
    with pytest.raises(ConfigError, match="runtimes is not a table"):
        apply_sets(base, ["runtimes.x=1"])


def test_sets_go_over_the_file_and_under_the_options(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('runtimes = ["torch"]\nbatches = [4]\n[timing]\nmin_s = 1.0\nmax_s = 9.0\n')
    got = load_config(cfg, {"batches": (2,)}, sets=["timing.repeats=5", 'runtimes=["ort-cpu"]', "batches=[8]"])
    assert got.timing.repeats == 5 and got.timing.min_s == 1.0 and got.timing.max_s == 9.0
    assert got.runtimes == ("ort-cpu",) and got.batches == (2,)


@pytest.mark.parametrize("item, needle", [
    ("nope=1", "unknown config key(s) nope"),
    ("timing.nope=1", "timing: unknown key(s) nope"),
    ("timing.repeats=-2", "timing.repeats"),
    ("timing.repeats=many", "timing.repeats"),
    ("runtimes=[3]", "runtimes"),
    ("runtime_settings.no-such-runtime.x=1", "unknown runtime 'no-such-runtime'"),
    ("twins.hidden=3", "twins: bad entry"),
])
def test_a_bad_set_is_one_line_and_exit_2(tmp_path: Path, item: str, needle: str) -> None:
    proc = twinbench("run", "--check", "--out", str(tmp_path / "runs"), "--set", item)
    one_error_line(proc, needle)
    assert not (tmp_path / "runs").exists()


def test_run_takes_the_config_as_an_option_too(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text('twins = ["lstm"]\nruntimes = ["ort-cpu"]\n[timing]\nrepeats = 2\n')
    for args in (["--config", str(cfg)], [str(cfg)], [str(cfg), "--config", str(cfg)]):
        proc = twinbench("run", *args, "--check", "--set", "timing.repeats=5", "--json")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["schema_version"] == SCHEMA_VERSION and doc["command"] == "run" and doc["check"] == "OK"
        assert doc["config"]["timing"]["repeats"] == 5 and doc["config"]["runtimes"] == ["ort-cpu"]
    other = tmp_path / "y.toml"
    other.write_text("")
    one_error_line(twinbench("run", str(cfg), "--config", str(other), "--check"), "config given twice")
    one_error_line(twinbench("run", "--config", str(tmp_path / "none.toml"), "--check"), "does not exist")


def test_bench_overrides_file_then_sets_then_options(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text('runtimes = ["torch"]\n[timing]\nmin_s = 1.0\n')
    got = bench_overrides(cfg, ["timing.repeats=4", 'runtimes=["openvino"]'], batch=[2], max_time=3.0)
    assert got == {"runtimes": ["openvino"], "timing": {"min_s": 1.0, "repeats": 4, "max_s": 3.0}, "batches": (2,)}


def test_parity_sets_fill_the_judge_table(tmp_path: Path) -> None:
    cfg = tmp_path / "j.toml"
    cfg.write_text('[judge]\nonnx = "m.onnx"\ntwin = "lstm"\n')
    assert judge_options(cfg, ["judge.twin=gru"], None, None, None) == (tmp_path / "m.onnx", "gru", None)
    assert judge_options(None, ["judge.onnx=a.onnx", "judge.twin=mlp", 'judge.runtimes=["ort-cpu"]'], None, None,
                         None) == (Path("a.onnx"), "mlp", ["ort-cpu"])
    assert judge_options(cfg, [], Path("given.onnx"), "bilstm", ["openvino"]) == (Path("given.onnx"), "bilstm",
                                                                                 ["openvino"])
    with pytest.raises(ConfigError, match="judge.\\* keys only"):
        judge_options(None, ["timing.repeats=3"], None, None, None)
    with pytest.raises(ConfigError, match="unknown key"):
        judge_options(None, ["judge.nope=3"], None, None, None)


# --json on every command ------------------------------------------------------------------------------

def test_every_command_declares_json_and_json_out() -> None:
    for name in COMMANDS:
        opts = {o for p in GROUP.commands[name].params for o in p.opts}  # type: ignore[attr-defined]
        assert {"--json", "--json-out"} <= opts, name


@pytest.mark.parametrize("name", COMMANDS)
def test_a_usage_error_with_json_is_one_json_object(name: str, tmp_path: Path) -> None:
    target = tmp_path / "err.json"
    proc = twinbench(name, "--no-such-option", "--json", "--json-out", str(target))
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc == {"schema_version": SCHEMA_VERSION, "command": name, "exit_code": 2, "error": doc["error"]}
    assert "--no-such-option" in doc["error"] and json.loads(target.read_text()) == doc
    one_error_line(proc, "No such option: --no-such-option")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two recorded runs (the second 30% slower on ort-cpu) and a history store holding both."""
    from twinbench.reports.history import record

    root = tmp_path_factory.mktemp("habits")
    base = make_run(root / "runs")
    cand = make_run(root / "runs", "20261124-140000-bbbbbb", seed=1, slowdown=1.3)
    store = root / "history.sqlite"
    for run in (base, cand):
        record(run, store)
    return {"root": root, "base": base, "cand": cand, "store": store}


def _invocations(r: dict[str, Path]) -> dict[str, list[str]]:
    base, cand = str(r["base"]), str(r["cand"])
    return {"report": ["report", cand, "--baseline", base],
            "compare": ["compare", base, cand],
            "hardware": ["hardware", base, cand],
            "history": ["history", "--store", str(r["store"]), "-t", "lstm", "-r", "ort-cpu", "-b", "1"],
            "export": ["export", base, "--format", "gab"],
            "list": ["list"],
            "check-system": ["check-system", "--seconds", "0.2"],
            "run": ["run", "--check", "-t", "lstm", "-r", "ort-cpu"],
            "parity": ["parity", str(r["root"] / "no-such-run")],  # its success path trains: test_cli_output
            "bench": ["bench", str(r["root"] / "no-such-run")],
            "gate": ["gate", str(r["root"] / "no-such-run"), str(r["root"] / "no-such-run")]}


@pytest.mark.parametrize("name", COMMANDS)
def test_json_on_every_command_and_the_same_object_in_a_file(name: str, recorded: dict[str, Path],
                                                             tmp_path: Path) -> None:
    args = _invocations(recorded)[name]
    proc = twinbench(*args, "--json")
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["command"] == name
    assert doc["exit_code"] == proc.returncode
    if name in ("parity", "bench", "gate"):  # a missing run directory: one line, exit 2, and the JSON error
        assert proc.returncode == 2 and set(doc) == {"schema_version", "command", "exit_code", "error"}
    else:
        assert "error" not in doc and proc.returncode in (0, 1), proc.stderr
    target = tmp_path / "out.json"
    text = twinbench(*args, "--json-out", str(target))
    assert text.returncode == proc.returncode
    again = json.loads(target.read_text())
    assert set(again) == set(doc) and again["exit_code"] == doc["exit_code"]
    if "error" not in doc:
        assert not text.stdout.lstrip().startswith("{")  # the text stays on stdout


def test_json_objects_say_what_each_command_found(recorded: dict[str, Path]) -> None:
    inv = _invocations(recorded)
    rep = json.loads(twinbench(*inv["report"], "--json").stdout)
    assert rep["summary"].startswith(f"twinbench {recorded['cand'].name} | parity PASS")
    assert rep["lead"]["changes"]["verdicts"]["REGRESSION"] > 0 and rep["baseline"] == str(recorded["base"])
    assert rep["cell_status"]["failed"] == 2 and len(rep["lead"]["fastest"]) == 12
    cmp = json.loads(twinbench(*inv["compare"], "--json").stdout)
    assert cmp["regression"] is True and cmp["exit_code"] == 1
    hw = json.loads(twinbench(*inv["hardware"], "--json").stdout)
    assert [m["run_id"] for m in hw["machines"]] == [recorded["base"].name, recorded["cand"].name]
    assert hw["cells"] and "m1 vs base" in hw["cells"][0]
    hist = json.loads(twinbench(*inv["history"], "--json").stdout)
    assert hist["points"] > 0 and all(len(s["points"]) == 2 for s in hist["series"])
    assert hist["html"] is None  # no page unless asked
    exp = json.loads(twinbench(*inv["export"], "--json").stdout)
    assert exp["format"] == "gab" and exp["entries"] == len(exp["document"]) > 0
    listed = json.loads(twinbench("list", "--json").stdout)
    assert {"lstm", "gru"} <= {t["name"] for t in listed["twins"]}
    assert {r["name"]: r["available"] for r in listed["runtimes"]}["ort-cpu"] is True
    assert "torch-dynamo" in listed["exporters"] and "fp16" in listed["variants"]


def test_json_out_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    proc = twinbench("list", "--json-out", str(tmp_path))  # a folder: no file can be written there
    one_error_line(proc, "--json-out: cannot write")


# report --summary ---------------------------------------------------------------------------------

def test_report_summary_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    proc = twinbench("report", str(run), "--summary")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith(f"twinbench {run.name} | parity PASS")
    assert "73 cells: 69 ok, 1 invalid, 2 failed, 1 skipped" in proc.stdout
    assert not (run / "report.md").exists() and not (run / "report.html").exists()
    assert api.summary(run) == proc.stdout.strip()
    full = twinbench("report", str(run))
    assert full.stdout.splitlines()[-1] == proc.stdout.strip() and (run / "report.md").is_file()


# help texts ---------------------------------------------------------------------------------------

def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_every_option_text_as_declared(name: str) -> None:
    """No help text loses a `[...]` (rich markup) or anything else between declaration and screen."""
    command = GROUP.commands[name]  # type: ignore[attr-defined]
    res = CliRunner().invoke(app, [name, "--help"], terminal_width=100)
    assert res.exit_code == 0, res.output
    shown = _squash(res.output)
    helps = [p.help for p in command.params if getattr(p, "help", None)]
    assert helps
    for text in helps:
        assert _squash(text) in shown, f"{name}: help text changed on screen: {text!r}"
    assert _squash(inspect.cleandoc(command.help or "")) in shown


def test_bracketed_help_survives() -> None:
    out = _squash(CliRunner().invoke(app, ["run", "--help"]).output)
    assert "at this QPS ([load] qps)" in out and """runtimes='["ort-cpu"]'""" in out


# one module per command -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_its_module_and_api_functions(name: str) -> None:
    module = importlib.import_module(f"twinbench.commands.{name.replace('-', '_')}")
    assert callable(getattr(module, "main", None)), name
    for fn in API[name]:
        assert callable(getattr(api, fn)), f"api.{fn}"
        assert fn in api.__all__


def test_cli_module_holds_no_command_body() -> None:
    """cli.py declares options and calls commands: no table printing, no pandas, no reports imports."""
    source = (Path(__file__).resolve().parents[1] / "twinbench" / "cli.py").read_text()
    assert "twinbench.reports" not in source and "rich.table" not in source and "pandas" not in source


def test_api_mirrors_the_cli_on_a_recorded_run(recorded: dict[str, Path]) -> None:
    df = api.compare(recorded["base"], recorded["cand"])
    assert api.has_regression(df)
    hw = api.hardware([recorded["base"], recorded["cand"]])
    assert "m1 vs base" in hw.columns
    assert json.loads(api.export(recorded["base"], "bencher"))
    md, html = api.report(recorded["cand"], baseline=recorded["base"])
    assert "### Changes against" in md.read_text() and html.is_file()
    found: Any = api.listing()
    assert "lstm" in {t["name"] for t in found.twins}
