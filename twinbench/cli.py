"""Command line: `twinbench run|parity|report|compare|gate|bench|export|hardware|history|list`.

The only place errors become exit codes: 0 ok, 1 parity failure or regression, 2 bad usage or bad
input, 3 an internal error (a bug: the traceback goes to a log file, never to the terminal).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from twinbench.core.errors import ConfigError, TwinbenchError, one_line, summary
from twinbench import __version__
from twinbench.check_system import as_dict, check, verdict
from twinbench.commands.bench import remeasure as remeasure_run
from twinbench.commands.gate import MAX_REPEATS, TIME_BUDGET_S, GateSettings, exit_code, gate_runs, gate_summary
from twinbench.commands.parity import judge, parity_only
from twinbench.commands.run import open_for_resume, run as run_pipeline
from twinbench.config import load_config, read_config_file
from twinbench.core.atomic import write_text
from twinbench.core.console import make_console, plain, styled
from twinbench.core.quiet import filter_native_stderr, quiet_python_loggers
from twinbench.core.userdirs import cache_dir
from twinbench.listing import print_listing
from twinbench.presets import timing_overrides
from twinbench.reports import build_reports
from twinbench.reports.compare import compare_markdown, compare_runs
from twinbench.reports.export import export_run
from twinbench.reports.hardware import hardware_markdown, hardware_table
from twinbench.reports.history import commit_prefix, history as load_history
from twinbench.reports.history_report import check_step_options, history_html, history_markdown, trend
from twinbench.reports.load import summary_lines
from twinbench.summary import compare_summary, emit, parity_summary, run_summary

# TensorFlow's C++ INFO lines (grappler "Starting new session", GPU probing) drown the progress
# output; a user who wants them sets the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train PyTorch/Keras twins, export to ONNX, benchmark every runtime, verify parity.")

INTERNAL_ERROR = 3


def _print_version(value: bool) -> None:
    if value:
        print(f"twinbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _startup(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print twinbench's version and exit.")) -> None:
    """Train PyTorch/Keras twins, export to ONNX, benchmark every runtime, verify parity."""
    quiet_python_loggers()  # before any TensorFlow import: its absl/C++ lines stay off the terminal
    filter_native_stderr()


JSON_OPT = typer.Option(False, "--json", help="Print one JSON summary on stdout (verdicts, paths, counts) "
                        "instead of text; progress still goes to stderr unless --quiet.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress on stderr; only the result lines.")
FAST_OPT = typer.Option(False, "--fast", help="Timing preset: quick and rough (1 process per cell, short windows; "
                        "docs/measurement.md).")
RIGOROUS_OPT = typer.Option(False, "--rigorous", help="Timing preset: more processes, longer windows (for gating).")
MIN_TIME_OPT = typer.Option(None, "--min-time", help="Seconds measured at least per process (timing.min_s).")
MAX_TIME_OPT = typer.Option(None, "--max-time", help="Seconds measured at most per process (timing.max_s).")
MIN_ITERS_OPT = typer.Option(None, "--min-iters", help="Timed calls at least per process (timing.min_iters).")


def _err(msg: str) -> None:
    print(f"twinbench: error: {msg}", file=sys.stderr)


def _guard(fn: Callable[[], int], json_command: str | None = None) -> None:
    """Run a command body; map errors to one line and an exit code. With `--json` (`json_command`
    set) a failure also prints one JSON object on stdout, so a CI step always has something to parse."""

    def fail(code: int, msg: str) -> typer.Exit:
        _err(msg)
        if json_command:
            emit({"command": json_command, "exit_code": code, "error": msg})
        return typer.Exit(code)

    try:
        code = fn()
    except TwinbenchError as exc:
        raise fail(exc.exit_code, summary(exc) or type(exc).__name__) from None
    except KeyboardInterrupt:
        raise fail(130, "interrupted") from None
    except Exception as exc:  # a bug: keep the traceback, show one line
        log = _error_log(traceback.format_exc())
        raise fail(INTERNAL_ERROR, f"internal error: {one_line(exc)} (traceback in {log})") from None
    raise typer.Exit(code)


def _error_log(text: str) -> Path | str:
    """The traceback of an internal error, in this user's cache folder (one file per process, not
    a shared /tmp file another user may own); where that fails, the traceback on stderr."""
    try:
        log = cache_dir() / f"error-{os.getpid()}.log"
        log.write_text(text)
        return log
    except OSError:
        print(text, file=sys.stderr)
        return "stderr above"


def _overrides(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kw.items():
        if value is None or value == [] or value == ():
            continue
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def _progress_runner(body: Callable[[Callable[[str], None], Callable[[int, int, str], None]], Any],
                     quiet: bool = False) -> Any:
    """Give the pipeline a rich progress bar on stderr (plain lines when not a terminal; none when quiet)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    if quiet:
        return body(lambda _msg: None, lambda _done, _total, _label: None)
    console = make_console(stderr=True)
    # markup off everywhere: messages and bar labels carry paths, run ids and library errors
    with Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("preparing", total=None)

        def say(msg: str) -> None:
            line = plain(msg, 4000)  # one line: no escape sequences from a path or an error
            bar.console.print(Text.assemble(("·", "dim"), " ", line), highlight=False)
            if bar.tasks[0].total is None:  # before the cells: the bar names the stage (training epochs, ...)
                bar.update(task, description=line[:60])

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=plain(f"cells: {label}", 60))

        return body(say, progress)


def _print_outcome(command: str, outcome: Any, json_out: bool, *, before: Any = (), after: Any = ()) -> int:
    """A finished `run` or `bench`: its JSON summary, or its lines; exit 1 on a parity FAIL."""
    code = 1 if outcome.parity_verdict == "FAIL" else 0
    if json_out:
        emit(run_summary(command, outcome.run_dir, outcome.parity_verdict, code, report_md=outcome.report_md,
                         report_html=outcome.report_html))
        return code
    for line in [*before, f"parity: {outcome.parity_verdict}", f"report: {outcome.report_md}", *after]:
        print(line)
    return code


TWIN_OPT = typer.Option(None, "--twin", "-t", help="Twin name (repeatable); see `twinbench list`.")
RUNTIME_OPT = typer.Option(None, "--runtime", "-r", help="Runtime name (repeatable).")


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="TOML or JSON config; default: the built-in demo."),
    twin: Optional[List[str]] = TWIN_OPT,
    runtime: Optional[List[str]] = RUNTIME_OPT,
    exporter: Optional[List[str]] = typer.Option(None, "--exporter", "-e", help="Exporter (repeatable)."),
    variant: Optional[List[str]] = typer.Option(None, "--variant", help="ONNX variant: ort-opt, fp16, int8."),
    batch: Optional[List[int]] = typer.Option(None, "--batch", "-b", help="Batch size (repeatable)."),
    seq_len: Optional[List[int]] = typer.Option(None, "--seq-len", "-s", help="Sequence length (repeatable)."),
    threads: Optional[List[int]] = typer.Option(None, "--threads", help="Thread count (repeatable)."),
    device: Optional[List[str]] = typer.Option(None, "--device", help="cpu, cuda (repeatable)."),
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering twins."),
    onnx: Optional[List[str]] = typer.Option(None, "--onnx", help="Also benchmark this ONNX file (repeatable)."),
    out: Optional[str] = typer.Option(None, "--out", help="Folder for run directories (default runs/)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs (both frameworks)."),
    vectors: Optional[str] = typer.Option(None, "--vectors", help="Pretrained word vectors (.vec text) for every twin."),
    freeze_embedding: Optional[bool] = typer.Option(None, "--freeze-embedding/--train-embedding",
                                                    help="Keep the pretrained embedding fixed in training."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="Worker processes per cell (timing.repeats)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="Where cells run: local (default), ray."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (docs/scale-out.md)."),
    machine: Optional[List[str]] = typer.Option(None, "--machine", help="Run every cell on this kind of node "
                                                "(a Ray resource tag, e.g. hw:cpu-a; repeatable)."),
    scenario: Optional[List[str]] = typer.Option(None, "--scenario", help="single-stream (default), server, "
                                                 "offline (repeatable; docs/load.md)."),
    qps: Optional[float] = typer.Option(None, "--qps", help="Server: also one LoadGen run at this QPS ([load] qps)."),
    latency_bound: Optional[float] = typer.Option(None, "--latency-bound", help="Server: p99 bound, ms."),
    load_duration: Optional[float] = typer.Option(None, "--load-duration", help="Seconds per LoadGen run."),
    streams: Optional[List[int]] = typer.Option(None, "--streams", help="Offline concurrency tried (repeatable)."),
    max_batch: Optional[List[int]] = typer.Option(None, "--max-batch", help="Offline max batch tried (repeatable)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted run directory: finished "
                                          "cells and complete twin builds are kept (docs/reliability.md)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Refuse at once (exit 2) when another benchmark holds "
                                 "this machine's lock, instead of waiting."),
    allow_overlap: bool = typer.Option(False, "--allow-overlap", help="Benchmark even while another one runs; "
                                       "both runs record the overlap and flag their cells."),
    check: bool = typer.Option(False, "--check", help="Only check the config, data, vectors, ONNX files, out "
                               "dir and run id (what a run checks before any training); make nothing."),
    fast: bool = FAST_OPT,
    rigorous: bool = RIGOROUS_OPT,
    min_time: Optional[float] = MIN_TIME_OPT,
    max_time: Optional[float] = MAX_TIME_OPT,
    min_iters: Optional[int] = MIN_ITERS_OPT,
    json_out: bool = JSON_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Train, export, benchmark and verify; prints the report's path. Exit 1 on a parity FAIL."""

    def body() -> int:
        overrides = _overrides(twins=twin, runtimes=runtime, exporters=exporter, variants=variant, batches=batch,
                               seq_lens=seq_len, threads=threads, devices=device, twin_modules=twin_module,
                               onnx=onnx, out_dir=out)
        if epochs is not None:
            overrides["training"] = {"epochs": epochs}
        timing = timing_overrides(fast=fast, rigorous=rigorous, repeats=repeats, min_time=min_time,
                                  max_time=max_time, min_iters=min_iters)
        if timing:
            overrides["timing"] = timing
        placement = _overrides(kind=executor or ("ray" if ray_address else None), address=ray_address)
        if placement:
            overrides["executor"] = placement
        if machine:
            overrides["machines"] = tuple(machine)
        embeddings = _overrides(vectors=vectors, freeze=freeze_embedding)
        if embeddings:
            overrides["embeddings"] = embeddings
        overrides.update(_overrides(scenarios=scenario))
        load = _overrides(qps=qps, latency_bound_ms=latency_bound, duration_s=load_duration, streams=streams,
                          max_batch=max_batch)
        if load:
            overrides["load"] = load
        if resume is not None:
            if config is not None or overrides:
                raise ConfigError("--resume: continues the run with its own config; give no config or options")
            cfg = open_for_resume(resume)[0]
        else:
            cfg = load_config(config, overrides)
        if check:
            run_pipeline(cfg, say=lambda _msg: None, resume=resume, check_only=True)
            print("config: OK (nothing was trained or written)")
            return 0
        outcome = _progress_runner(lambda say, progress: run_pipeline(
            cfg, say=say, progress=progress, resume=resume, wait=not no_wait, allow_overlap=allow_overlap),
            quiet=quiet)
        # Server max QPS and Offline samples/s per runtime, then the verdict and the reports
        return _print_outcome("run", outcome, json_out, before=summary_lines(outcome.run_dir),
                              after=[f"html:   {outcome.report_html}"] if outcome.report_html else [])

    _guard(body, "run" if json_out else None)


@app.command()
def parity(
    run_dir: Path = typer.Argument(..., help="A run directory whose artifacts to verify again."),
    runtime: Optional[List[str]] = RUNTIME_OPT,
    json_out: bool = JSON_OPT,
    quiet: bool = QUIET_OPT,
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="Judge this ONNX file (optimised, quantised, edited) "
                                        "against --twin's golden in RUN_DIR instead."),
    judged_twin: Optional[str] = typer.Option(None, "--twin", "-t", help="With --onnx: the twin whose golden judges it."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/JSON with a 'judge' table (onnx, twin, "
                                          "runtimes): --onnx/--twin/-r kept in a file; options given win."),
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering the run's "
                                                    "own twins (a run directory never imports modules by itself)."),
) -> None:
    """Parity alone, fast: re-run every artifact of RUN_DIR on the CPU runtimes (no timing). Exit 1 on FAIL.
    With --onnx FILE --twin NAME (or --config with a 'judge' table): is FILE still NAME's model?
    (first diverging layer on FAIL)."""

    def body() -> int:
        file, twin_name, runtimes = onnx, judged_twin, runtime
        if config is not None:
            file, twin_name, runtimes = _judge_config(config, file, twin_name, runtimes)
        if (file is None) != (twin_name is None):
            raise ConfigError("--onnx and --twin go together: the file to judge and the twin whose golden judges it")
        if file is not None:
            return _judge(run_dir, file, str(twin_name), runtimes, json_out, quiet, list(twin_module or []))
        df, verdict = _progress_runner(lambda _say, progress: parity_only(
            run_dir, runtimes=list(runtime) if runtime else None, progress=progress,
            twin_modules=list(twin_module or [])), quiet=quiet)
        code = 1 if verdict == "FAIL" else 0
        if json_out:
            emit(parity_summary(run_dir, df, verdict, code))
            return code
        _print_parity(df)
        print(f"parity: {verdict}")
        return code

    _guard(body, "parity" if json_out else None)


JUDGE_KEYS = ("onnx", "twin", "runtimes")


def _judge_config(path: Path, onnx: Optional[Path], twin: Optional[str],
                  runtimes: Optional[List[str]]) -> tuple[Optional[Path], Optional[str], Optional[List[str]]]:
    """The [judge] table of a config file (its `onnx` path relative to the file), under the
    command line's own --onnx/--twin/-r."""
    section = read_config_file(path).get("judge")
    if not isinstance(section, dict):
        raise ConfigError(f"config file {str(path)!r}: needs a [judge] table with onnx and twin")
    unknown = sorted(set(section) - set(JUDGE_KEYS))
    if unknown:
        raise ConfigError(f"judge: unknown key(s) {', '.join(unknown)} (known: {', '.join(JUDGE_KEYS)})")
    if "onnx" in section and not isinstance(section["onnx"], str):
        raise ConfigError(f"judge.onnx: must be a path, got {section['onnx']!r}")
    if "twin" in section and not isinstance(section["twin"], str):
        raise ConfigError(f"judge.twin: must be a twin name, got {section['twin']!r}")
    listed = section.get("runtimes")
    if listed is not None and (not isinstance(listed, list) or not all(isinstance(r, str) for r in listed)):
        raise ConfigError(f"judge.runtimes: must be a list of runtime names, got {listed!r}")
    if onnx is None and "onnx" in section:
        onnx = Path(section["onnx"]) if Path(section["onnx"]).is_absolute() else path.parent / section["onnx"]
    return onnx, twin or section.get("twin"), runtimes or listed


def _judge(run_dir: Path, onnx: Path, twin: str, runtime: Optional[List[str]], json_out: bool, quiet: bool,
           twin_modules: list[str]) -> int:
    result = _progress_runner(lambda _say, progress: judge(
        run_dir, onnx, twin, runtimes=list(runtime) if runtime else None, progress=progress,
        twin_modules=twin_modules), quiet=quiet)
    code = 1 if result.verdict == "FAIL" else 0
    if json_out:
        emit({**parity_summary(result.where, result.parity, result.verdict, code),
              "first_divergent_layer": result.divergent})
        return code
    _print_parity(result.parity)
    for line in result.divergent:
        print(f"first diverging layer: {line}")
    print(f"saved:  {result.where}")
    print(f"parity: {result.verdict}")
    return code


def _print_parity(df: Any) -> None:
    from rich.table import Table

    if df is None or not len(df):
        return
    table = Table("twin", "artifact", "runtime", "inputs", "profile", "max_abs", "verdict")
    reasons = []
    for row in df.itertuples():
        table.add_row(str(row.twin), str(row.artifact), str(row.runtime), str(row.inputs), str(row.profile),
                      _sci(row.max_abs), str(row.verdict))
        error = getattr(row, "error", None)
        if str(row.verdict) in ("ERROR", "FAIL") and isinstance(error, str) and error:
            reasons.append(f"{row.twin}/{row.artifact} on {row.runtime}: {error}")
    make_console().print(table)
    for line in dict.fromkeys(reasons):  # why a check could not run, once per artifact x runtime
        print(f"  {line}")


def _sci(value: Any) -> str:
    """A figure as 1.23e-05, or "-" when the check produced none (None, NaN, text)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{number:.2e}" if number == number else "-"


@app.command()
def report(run_dir: Path = typer.Argument(..., help="Run directory, pytest-benchmark JSON file or .benchmarks folder.")) -> None:
    """Rebuild report.md and report.html from a run directory alone."""

    def body() -> int:
        md, html = build_reports(run_dir)
        print(f"report: {md}")
        print(f"html:   {html}")
        return 0

    _guard(body)


MAX_REPEATS_OPT = typer.Option(None, "--max-repeats", help=f"Sequential measurement: processes a side at most per "
                               f"cell, the last planned look (default {MAX_REPEATS}).")
TIME_BUDGET_OPT = typer.Option(None, "--time-budget", help=f"Sequential measurement: seconds of measuring at most "
                               f"(default {TIME_BUDGET_S:g}); no look starts that the budget has no room for.")


@app.command()
def compare(
    base: Path = typer.Argument(..., help="Baseline run directory (or pytest-benchmark JSON file / .benchmarks folder)."),
    candidate: Path = typer.Argument(..., help="Candidate run directory (or pytest-benchmark JSON / folder)."),
    min_effect: float = typer.Option(0.05, help="Smallest slowdown that counts (0.05 = 5%)."),
    alpha: float = typer.Option(0.01, help="Significance level of the test on the process figures."),
    allow_hardware: bool = typer.Option(False, help="Allow runs from different machines."),
    allow_versions: bool = typer.Option(False, help="Allow runs with different library versions."),
    remeasure: bool = typer.Option(False, "--remeasure", help="Measure both runs' artifacts again here, "
                                   "interleaved, more processes for the cells still INCONCLUSIVE until each is "
                                   "decided or the budget is spent (the same as `twinbench gate`)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="With --remeasure: worker processes per cell at "
                                          "the first look (at least 3)."),
    max_repeats: Optional[int] = MAX_REPEATS_OPT,
    time_budget: Optional[float] = TIME_BUDGET_OPT,
    fail_inconclusive: bool = typer.Option(False, "--fail-inconclusive",
                                           help="Exit 1 on an INCONCLUSIVE cell too (strict gates)."),
    json_out: bool = JSON_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Per-cell regression verdicts between two runs on process-level figures; exit 1 on a regression."""

    def body() -> int:
        if not remeasure:
            for name, given in (("--repeats", repeats), ("--max-repeats", max_repeats), ("--time-budget", time_budget)):
                if given is not None:
                    raise ConfigError(f"{name}: only with --remeasure (a stored run keeps its own processes)")
            df = compare_runs(base, candidate, min_effect=min_effect, alpha=alpha, allow_hardware=allow_hardware,
                              allow_versions=allow_versions)
            code = exit_code(df, fail_inconclusive=fail_inconclusive)
            if json_out:
                emit(compare_summary(df, code, "two independent runs"))
            else:
                print(compare_markdown(df))
            return code
        return _gate(base, candidate, min_effect=min_effect, alpha=alpha, repeats=repeats, max_repeats=max_repeats,
                     time_budget=time_budget, fail_inconclusive=fail_inconclusive, json_out=json_out, quiet=quiet,
                     command="compare")

    _guard(body, "compare" if json_out else None)


def _gate(base: Path, candidate: Path, *, min_effect: float, alpha: float, repeats: Optional[int],
          max_repeats: Optional[int], time_budget: Optional[float], fail_inconclusive: bool, json_out: bool,
          quiet: bool, command: str, out: Optional[str] = None) -> int:
    """`gate` and `compare --remeasure`: the sequential, interleaved re-measurement and its verdicts."""
    settings = GateSettings(min_effect=min_effect, alpha=alpha,
                            max_repeats=MAX_REPEATS if max_repeats is None else max_repeats,
                            time_budget_s=TIME_BUDGET_S if time_budget is None else time_budget)
    if repeats is not None and repeats < 1:
        raise ConfigError(f"--repeats: must be >= 1, got {repeats}")
    overrides = _overrides(out_dir=out)
    if repeats:
        overrides["timing"] = {"repeats": repeats}
    result = _progress_runner(lambda say, progress: gate_runs(base, candidate, overrides, settings=settings, say=say,
                                                              progress=progress), quiet=quiet)
    code = exit_code(result.verdicts, fail_inconclusive=fail_inconclusive)
    if json_out:
        emit({**gate_summary(result, code), "command": command})
        return code
    print(compare_markdown(result.verdicts))
    print(f"gate: {result.report_md} ({result.bench_s:.0f} s measuring, {result.looks} "
          f"look{'s' if result.looks != 1 else ''}, {result.processes} processes)")
    return code


@app.command()
def gate(
    base: Path = typer.Argument(..., help="Baseline run directory: its artifacts are measured again here."),
    candidate: Path = typer.Argument(..., help="Candidate run directory (e.g. this commit's `twinbench run`): its "
                                     "artifacts are measured again here, interleaved with the baseline's."),
    min_effect: float = typer.Option(0.05, "--min-effect", help="Smallest slowdown that counts (0.05 = 5%)."),
    alpha: float = typer.Option(0.01, "--alpha", help="False-positive rate of the whole sequential test."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="Worker processes per cell at the first look "
                                          "(default: the runs' own, at least 3)."),
    max_repeats: Optional[int] = MAX_REPEATS_OPT,
    time_budget: Optional[float] = TIME_BUDGET_OPT,
    fail_inconclusive: bool = typer.Option(False, "--fail-inconclusive",
                                           help="Exit 1 on an INCONCLUSIVE cell too."),
    out: Optional[str] = typer.Option(None, "--out", help="Folder for the two new run directories (default runs/)."),
    json_out: bool = JSON_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """CI regression gate: measure both runs' artifacts here, interleaved, more processes for the cells still
    undecided, until each is REGRESSION, IMPROVEMENT or SAME or the budget is spent. Exit 1 on a regression."""

    def body() -> int:
        return _gate(base, candidate, min_effect=min_effect, alpha=alpha, repeats=repeats, max_repeats=max_repeats,
                     time_budget=time_budget, fail_inconclusive=fail_inconclusive, json_out=json_out, quiet=quiet,
                     command="gate", out=out)

    _guard(body, "gate" if json_out else None)


@app.command()
def bench(
    run_dir: Path = typer.Argument(..., help="A run directory whose artifacts to measure again, here."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/JSON overrides (timing, runtime_settings, ...)."),
    runtime: Optional[List[str]] = RUNTIME_OPT,
    batch: Optional[List[int]] = typer.Option(None, "--batch", "-b", help="Batch size (repeatable)."),
    seq_len: Optional[List[int]] = typer.Option(None, "--seq-len", "-s", help="Sequence length (repeatable)."),
    threads: Optional[List[int]] = typer.Option(None, "--threads", help="Thread count (repeatable)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="Worker processes per cell (timing.repeats)."),
    out: Optional[str] = typer.Option(None, "--out", help="Folder for the new run directory (default runs/)."),
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering the run's "
                                                    "own twins (a run directory never imports modules by itself)."),
    fast: bool = FAST_OPT,
    rigorous: bool = RIGOROUS_OPT,
    min_time: Optional[float] = MIN_TIME_OPT,
    max_time: Optional[float] = MAX_TIME_OPT,
    min_iters: Optional[int] = MIN_ITERS_OPT,
    json_out: bool = JSON_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Re-measure RUN_DIR's artifacts on this machine into a new run directory (no training or export).
    For runtime upgrades, A/A checks, and `twinbench hardware` on a run carried to another machine."""

    def body() -> int:
        overrides: dict[str, Any] = dict(read_config_file(config)) if config else {}
        overrides.update(_overrides(runtimes=runtime, batches=batch, seq_lens=seq_len, threads=threads, out_dir=out))
        timing = timing_overrides(fast=fast, rigorous=rigorous, repeats=repeats, min_time=min_time,
                                  max_time=max_time, min_iters=min_iters)
        if timing:
            overrides["timing"] = {**dict(overrides.get("timing") or {}), **timing}
        outcome = _progress_runner(lambda say, progress: remeasure_run(
            run_dir, overrides, say=say, progress=progress, twin_modules=list(twin_module or [])), quiet=quiet)
        return _print_outcome("bench", outcome, json_out, after=[f"run:    {outcome.run_dir}"])

    _guard(body, "bench" if json_out else None)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="Run directory (or pytest-benchmark JSON file / .benchmarks folder)."),
    fmt: str = typer.Option(..., "--format", "-f", help="bencher (Bencher metric format), gab "
                            "(github-action-benchmark customSmallerIsBetter: latency), gab-throughput "
                            "(customBiggerIsBetter) or pytest-benchmark."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    """The run's ok cells in a CI dashboard's format (docs/ci.md)."""

    def body() -> int:
        text = export_run(run_dir, fmt, out)
        print(f"export: {out}" if out else text, end="\n" if out else "")
        return 0

    _guard(body)


@app.command()
def hardware(
    runs: List[Path] = typer.Argument(..., help="Run directories from different machines."),
    baseline: int = typer.Option(0, help="Index of the baseline run."),
) -> None:
    """The same matrix from several machines side by side, as ratios to a baseline machine."""

    def body() -> int:
        print(hardware_markdown(hardware_table(list(runs), baseline=baseline)))
        return 0

    _guard(body)


@app.command()
def history(
    twin: Optional[str] = typer.Option(None, "--twin", "-t"),
    runtime: Optional[str] = typer.Option(None, "--runtime", "-r"),
    artifact: Optional[str] = typer.Option(None, "--artifact"),
    exporter: Optional[str] = typer.Option(None, "--exporter", "-e"),
    precision: Optional[str] = typer.Option(None, "--precision"),
    device: Optional[str] = typer.Option(None, "--device"),
    batch: Optional[int] = typer.Option(None, "--batch", "-b"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", "-s"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    machine: Optional[str] = typer.Option(None, "--machine", help="Fingerprint prefix, CPU model part, host or node tag."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Git commit: the full id or a prefix of at "
                                         "least 4 hex digits."),
    config_hash: Optional[str] = typer.Option(None, "--config-hash"),
    kind: Optional[str] = typer.Option(None, "--kind", help="run or bench."),
    store: Optional[Path] = typer.Option(None, "--store", help="History store (default $TWINBENCH_HISTORY, else "
                                         "./.twinbench/history.sqlite when ./.twinbench/ exists, else "
                                         "~/.local/share/twinbench/history.sqlite)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the HTML trend page there."),
    min_effect: float = typer.Option(0.05, "--min-effect", help="Smallest change that counts as a step "
                                     "(> 0 and < 1; 0.05 = 5%)."),
    alpha: float = typer.Option(0.01, "--alpha", help="Significance level of the step test (> 0 and < 1)."),
    fail_on_step: bool = typer.Option(False, "--fail-on-step", help="Exit 1 when a cell's latest point is a "
                                      "slower step (a CI gate)."),
) -> None:
    """Trend per cell and machine across recorded runs (every `run` and `bench` records itself), with
    steps (a change between consecutive points of one machine, tested on process figures) and, with
    --html, a page of plots."""

    def body() -> int:
        effect, level = check_step_options(min_effect, alpha)  # before any work: one line, exit 2
        df = load_history(twin=twin, runtime=runtime, artifact=artifact, exporter=exporter, precision=precision,
                          device=device, batch=batch, seq_len=seq_len, threads=threads, machine=machine,
                          git_commit=None if commit is None else commit_prefix(commit), config_hash=config_hash,
                          kind=kind, store=store)
        series = trend(df, min_effect=effect, alpha=level)
        print(history_markdown(df, min_effect=effect, alpha=level))
        if html is not None:
            try:
                write_text(html, history_html(df, min_effect=effect, alpha=level))
            except OSError as exc:
                raise ConfigError(f"--html: cannot write {html} ({exc.strerror or exc})") from None
            print(f"html: {html}")
        latest_slower = any(s.verdict == "REGRESSION" and s.index == len(pts) - 1 for _, pts, steps in series
                            for s in steps)
        return 1 if fail_on_step and latest_slower else 0

    _guard(body)


@app.command("check-system")
def check_system(
    seconds: float = typer.Option(3.0, "--seconds", help="How long to watch the machine's fast/slow state."),
    json_out: bool = JSON_OPT,
) -> None:
    """What on this machine makes timings noisy (governor, turbo, load, busy processes, steal, slow state).
    Always exits 0: the verdict is advice, not a failure."""

    def body() -> int:
        findings = check(seconds)
        if json_out:
            emit(as_dict(findings))
            return 0
        from rich.table import Table

        table = Table("check", "value", "", "advice")
        marks = {"ok": styled("ok", ""), "warn": styled("WARN", "bold yellow"), "info": styled("info", "dim")}
        for f in findings:  # values read from /proc and /sys: data, shown with markup off
            table.add_row(str(f.name), str(f.value), marks[f.level], str(f.advice))
        console = make_console()
        console.print(table)
        console.print(verdict(findings))
        return 0

    _guard(body, "check-system" if json_out else None)


@app.command("list")
def list_cmd(
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering twins."),
) -> None:
    """Twins (with configs), exporters, variants and runtimes, and why any runtime is unavailable."""

    def body() -> int:
        print_listing(list(twin_module or []))
        return 0

    _guard(body)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
