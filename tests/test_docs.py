"""The README cannot drift: every command of its bash blocks and its Python snippets are checked here.

How each is checked (fast unless marked slow):
- `make X`: the target exists in the Makefile (running it installs a venv: minutes).
- `twinbench ...`: every line is PARSED by the real CLI (click's own parser: the verb, every option,
  every value's type), because running most of them trains models. The cheap ones are also RUN:
  `twinbench --version`, `list`, `check-system`, `twinbench history ...` (on a store filled with recorded runs),
  `twinbench report/compare` on the pytest-benchmark JSON of the example below.
- `pytest ...` and the `twinbench_cell` example: RUN as written, on an ONNX file with a twinbench
  sidecar put where the example's `runs/<id>/...` path points.
- The Python API snippet: names and keywords checked against `twinbench.api` (fast), and RUN as
  written in a fresh folder (slow: it trains a twin for one epoch and measures twice).
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "tests" / "reports"))  # reportlib: recorded runs and a tiny ONNX model


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    """Each command line of the README's bash blocks, comments and blank lines dropped."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def _placeholders(args: list[str], run_dir: str = "runs/x") -> list[str]:
    return [a.replace("runs/<id>", run_dir).replace("runs/<base>", run_dir).replace("runs/<candidate>", run_dir)
            .replace("runs/<a>", run_dir).replace("runs/<b>", run_dir) for a in args]


COMMANDS = _commands()


def test_readme_has_commands_and_snippets() -> None:
    assert len(COMMANDS) >= 10 and any(c.startswith("twinbench history") for c in COMMANDS)
    assert _api_snippet() and _pytest_example()


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_is_valid(line: str) -> None:
    """Parsed by the tool it names (see the module docstring for which are also run)."""
    import click
    from typer.main import get_command

    from twinbench.cli import ClickException, app  # typer's own click: its parser raises these

    argv = shlex.split(line)
    if argv[0] == "make":
        targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
        assert all(t in targets for t in argv[1:] if "=" not in t), f"{line}: no such make target"
    elif argv[0] == "twinbench" and argv[1:] == ["--version"]:
        res = subprocess.run([sys.executable, "-m", "twinbench", "--version"], capture_output=True, text=True,
                             timeout=60)  # run: it is instant
        assert res.returncode == 0 and res.stdout.startswith("twinbench "), res.stdout + res.stderr
    elif argv[0] == "twinbench":
        group = get_command(app)
        with click.Context(group) as ctx:
            verb = group.get_command(ctx, argv[1])
            assert verb is not None, f"{line}: no verb {argv[1]!r}"
            try:
                verb.make_context(argv[1], _placeholders(argv[2:]), parent=ctx)
            except (click.ClickException, ClickException) as exc:
                pytest.fail(f"README command does not parse: {line}: {exc.format_message()}")
    elif argv[0] == "pytest":
        assert "twinbench.bench.pytest_plugin" in argv, line  # run for real below
    else:
        pytest.fail(f"README command {line!r}: no check for {argv[0]!r} in tests/test_docs.py; add one")


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, **(env or {})))


def test_readme_list_and_history_run(tmp_path: Path) -> None:
    """`twinbench list` and the README's `twinbench history` lines, run on three recorded runs."""
    from reportlib import make_run

    from twinbench.reports.history import record

    store = tmp_path / "history.sqlite"
    for i, slow in enumerate((1.0, 1.0, 1.3)):
        record(make_run(tmp_path / "runs", f"2026112{i}-100000-00000{i}", seed=i, slowdown=slow), store)
    assert _cli("list", cwd=tmp_path).returncode == 0
    if any(c.startswith("twinbench check-system") for c in COMMANDS):
        assert _cli("check-system", cwd=tmp_path).returncode == 0
    lines = [c for c in COMMANDS if c.startswith("twinbench history")]
    assert lines
    for line in lines:
        res = _cli(*shlex.split(line)[1:], cwd=tmp_path, env={"TWINBENCH_HISTORY": str(store)})
        assert res.returncode in (0, 1), f"{line}: {res.stderr[-2000:]}"  # 1: --fail-on-step found a slower step
        assert "# twinbench history" in res.stdout
    assert (tmp_path / "history.html").is_file()


def _pytest_example() -> str:
    return next((b for b in _blocks("python") if "twinbench_cell" in b), "")


def test_readme_pytest_benchmark_example_runs(tmp_path: Path) -> None:
    """The example as written, on a model whose sidecar says 56 words (ids beyond it crash ORT: the
    fixture must read the sidecar), then the README's pytest, report and compare lines."""
    from reportlib import tiny_onnx

    from twinbench.exporters.artifact import Artifact

    example = _pytest_example()
    rel = re.search(r'"(runs/<id>/[^"]+)"', example).group(1)
    model = tiny_onnx(tmp_path / rel.replace("<id>", "20261123-000000-abcdef"), vocab=56)
    art_rel = str(model.relative_to(tmp_path / "runs" / "20261123-000000-abcdef"))
    Artifact(name="torch-dynamo", kind="onnx", path=art_rel, twin="lstm", source="torch", exporter="torch-dynamo",
             twin_config={"vocab_size": 56}, meta={"inputs": [{"name": "tokens", "dtype": "int64",
                                                               "shape": ["batch", "seq"]}]}
             ).write_sidecar(tmp_path / "runs" / "20261123-000000-abcdef")
    (tmp_path / "test_speed.py").write_text(example.replace("<id>", "20261123-000000-abcdef"))
    for line in (c for c in COMMANDS if c.startswith(("pytest", "twinbench report speed", "twinbench compare speed"))):
        argv = shlex.split(line)
        if argv[0] == "pytest":  # short timings; plugin loaded once even when installed as an entry point
            argv = [sys.executable, "-m", *argv, "-q", "--benchmark-min-rounds=20", "--benchmark-max-time=0.1",
                    "--benchmark-warmup=off"]
            res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        else:
            res = _cli(*argv[1:], cwd=tmp_path)
        if res.returncode != 0 and "already registered" in res.stderr + res.stdout:
            argv.remove("-p"), argv.remove("twinbench.bench.pytest_plugin")
            res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"{line}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        if argv[1:2] == ["compare"]:
            assert "INCONCLUSIVE" in res.stdout and "too few valid processes" in res.stdout
    assert (tmp_path / "speed.json").is_file() and (tmp_path / "speed.twinbench" / "report.md").is_file()


def _api_snippet() -> str:
    return next((b for b in _blocks("python") if "from twinbench import api" in b), "")


def test_readme_api_snippet_matches_the_api() -> None:
    """Every `api.f(...)` of the snippet exists and accepts the keywords it is given (fast)."""
    from twinbench import api

    calls = [n for n in ast.walk(ast.parse(_api_snippet())) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id == "api"]
    assert {c.func.attr for c in calls} >= {"run", "load_run", "parity", "bench", "compare", "history"}
    for c in calls:
        fn = getattr(api, c.func.attr)
        inspect.signature(fn).bind(*[None] * len(c.args), **{k.arg: None for k in c.keywords if k.arg})


@pytest.mark.slow
def test_readme_api_snippet_runs(tmp_path: Path) -> None:
    """The snippet as written, in a fresh folder (its runs go to ./runs, its history to a temp store)."""
    script = tmp_path / "snippet.py"
    script.write_text(_api_snippet())
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, TWINBENCH_HISTORY=str(tmp_path / "h.sqlite")))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # pandas cuts wide frames to 80 columns when piped, so only the narrow tables are looked for
    assert "p50_ms" in res.stdout and " run " in res.stdout and " bench " in res.stdout
