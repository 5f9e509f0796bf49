"""Command line: `twinbench run|parity|report|compare|gate|bench|export|hardware|history|check-system|list`.

This module only declares options: each command's body is `twinbench/commands/<name>.py` `main`,
which returns an `Answer` (exit code, `--json` object, text), and `_guard` prints it. It is also the
only place errors become exit codes: 0 ok, 1 parity failure or regression, 2 bad usage or bad
input, 3 an internal error (a bug: the traceback goes to a log file, never to the terminal), 130
interrupted. With `--json` (or `--json-out FILE`) every outcome, a usage error included, is one
JSON object (twinbench/summary.py).
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import typer
from typer.main import get_command

try:  # typer vendors its own click: its parser raises these, not the `click` package's
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - a typer that uses the click package again
    from click.exceptions import ClickException, NoArgsIsHelpError

from twinbench import __version__
from twinbench.commands import bench as bench_cmd
from twinbench.commands import check_system as check_system_cmd
from twinbench.commands import compare as compare_cmd
from twinbench.commands import export as export_cmd
from twinbench.commands import gate as gate_cmd
from twinbench.commands import hardware as hardware_cmd
from twinbench.commands import history as history_cmd
from twinbench.commands import list as list_cmd
from twinbench.commands import parity as parity_cmd
from twinbench.commands import report as report_cmd
from twinbench.commands import run as run_cmd
from twinbench.commands.progress import Progress, Say, silent_progress, silent_say, with_progress
from twinbench.core.errors import ConfigError, TwinbenchError, one_line, summary
from twinbench.core.quiet import filter_native_stderr, quiet_python_loggers
from twinbench.core.userdirs import cache_dir
from twinbench.summary import Answer, emit, envelope, say_error
from twinbench.presets import SIZE_PRESETS

# TensorFlow's C++ INFO lines (grappler "Starting new session", GPU probing) drown the progress
# output; a user who wants them sets the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# rich_markup_mode=None: help texts are plain text ("[load] qps" stays as written; rich would read
# it as markup and print "( qps)"); tests/test_cli_help.py checks every option's help.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Train PyTorch/Keras twins, export to ONNX, benchmark every runtime, verify parity.")

INTERNAL_ERROR = 3
INTERRUPTED = 130
#: Kept for tests and scripts that drove the progress bar through the CLI module.
_progress_runner = with_progress
#: System errors about a path itself: the path the user gave (or the disk it is on) is at fault, not twinbench.
PATH_ERRORS = {errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EROFS,
               errno.ENOSPC, errno.EISDIR, errno.EEXIST, errno.EDQUOT}


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


# options shared by several commands ----------------------------------------------------------------

JSON_OPT = typer.Option(False, "--json", help="Print the result as one JSON object on stdout instead of text "
                        "(schema_version, command, exit_code, ...; an error or usage error too); progress stays "
                        "on stderr.")
JSON_OUT_OPT = typer.Option(None, "--json-out", metavar="FILE", help="Also write that JSON object to FILE "
                            "(the text stays on stdout).")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress on stderr; only the result lines.")
SET_OPT = typer.Option(None, "--set", metavar="KEY=VALUE", help="Override one config key over the config file, "
                       "VALUE a TOML literal (repeatable): --set timing.repeats=5 --set runtimes='[\"ort-cpu\"]'.")
FAST_OPT = typer.Option(False, "--fast", help="Timing preset: quick and rough (1 process per cell, short windows; "
                        "docs/measurement.md).")
RIGOROUS_OPT = typer.Option(False, "--rigorous", help="Timing preset: more processes, longer windows (for gating).")
MIN_TIME_OPT = typer.Option(None, "--min-time", help="Seconds measured at least per process (timing.min_s).")
MAX_TIME_OPT = typer.Option(None, "--max-time", help="Seconds measured at most per process (timing.max_s).")
MIN_ITERS_OPT = typer.Option(None, "--min-iters", help="Timed calls at least per process (timing.min_iters).")
REPEATS_OPT = typer.Option(None, "--repeats", help="Worker processes per cell (timing.repeats).")
TWIN_OPT = typer.Option(None, "--twin", "-t", help="Twin name (repeatable); see `twinbench list`.")
RUNTIME_OPT = typer.Option(None, "--runtime", "-r", help="Runtime name (repeatable).")
BATCH_OPT = typer.Option(None, "--batch", "-b", help="Batch size (repeatable).")
SEQ_LEN_OPT = typer.Option(None, "--seq-len", "-s", help="Sequence length (repeatable).")
THREADS_OPT = typer.Option(None, "--threads", help="Thread count (repeatable).")
MAX_REPEATS_OPT = typer.Option(None, "--max-repeats", help="Sequential measurement: processes a side at most per "
                               "cell, the last planned look (default 12).")
TIME_BUDGET_OPT = typer.Option(None, "--time-budget", help="Sequential measurement: seconds of measuring at most "
                               "(default 600); no look starts that the budget has no room for.")
RUN_TWIN_MODULE_OPT = typer.Option(None, "--twin-module", help="Module/.py registering the run's own twins "
                                   "(a run directory never imports modules by itself).")


# running a command body ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Out:
    """Where the result goes: `--json` (the object on stdout instead of the text) and `--json-out FILE`."""

    json: bool = False
    json_file: Optional[Path] = None

    @property
    def wants_json(self) -> bool:
        return self.json or self.json_file is not None


_err = say_error


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


def _stdout_to_devnull() -> None:
    """After a broken pipe: later writes (and the interpreter's final flush) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _emit_error(command: str | None, code: int, msg: str, out: Out) -> None:
    """A failure as one JSON object where JSON was asked for (best effort: a --json-out FILE that
    cannot be written has had its own error line; the exit code is the record)."""
    if out.json:
        emit(envelope(command, code, {"error": msg}))
    if out.json_file is not None:
        try:
            emit(envelope(command, code, {"error": msg}), stdout=False, file=out.json_file)
        except TwinbenchError:
            pass


def _guard(command: str, body: Callable[[Say, Progress], Answer], out: Out = Out(), *, live: bool = False,
           quiet: bool = False) -> None:
    """Run a command body (under a progress bar on stderr when `live`), print its Answer as text or
    JSON, and exit with its code; errors become one line (and one JSON object) and an exit code."""

    def fail(code: int, msg: str) -> typer.Exit:
        _err(msg)
        _emit_error(command, code, msg, out)
        return typer.Exit(code)

    try:
        answer = with_progress(body, quiet=quiet) if live else body(silent_say, silent_progress)
        obj = envelope(command, answer.code, answer.data)
        if out.json_file is not None:  # first: a file that cannot be written is an error before any output
            emit(obj, stdout=False, file=out.json_file)
        if out.json:
            emit(obj)
        else:
            answer.show()
    except BrokenPipeError:  # stdout's reader went away (`| head`): nothing more to say, as click does
        _stdout_to_devnull()
        raise typer.Exit(1) from None
    except TwinbenchError as exc:
        raise fail(exc.exit_code, summary(exc) or type(exc).__name__) from None
    except KeyboardInterrupt:
        raise fail(INTERRUPTED, "interrupted") from None
    except OSError as exc:
        if exc.filename is None or exc.errno not in PATH_ERRORS:
            log = _error_log(traceback.format_exc())
            raise fail(INTERNAL_ERROR, f"internal error: {one_line(exc)} (traceback in {log})") from None
        # a path the user gave that the system refuses (too long a name, not a folder, no access, disk full)
        raise fail(2, f"{summary(str(exc.filename), 160)}: {exc.strerror or type(exc).__name__}") from None
    except SystemExit as exc:  # a library's or a user module's exit(): never a silent exit code
        log = _error_log(traceback.format_exc())
        raise fail(INTERNAL_ERROR, f"internal error: SystemExit({exc.code!r}) (traceback in {log})") from None
    except Exception as exc:  # a bug: keep the traceback, show one line
        log = _error_log(traceback.format_exc())
        raise fail(INTERNAL_ERROR, f"internal error: {one_line(exc)} (traceback in {log})") from None
    raise typer.Exit(answer.code)


def _config_file(positional: Optional[Path], option: Optional[Path]) -> Optional[Path]:
    """`run CONFIG` and `run --config CONFIG` are the same; both at once only when they agree."""
    if positional is not None and option is not None and positional != option:
        raise ConfigError(f"config given twice ({positional} and --config {option}): give one")
    return positional if positional is not None else option


ALLOW_FAILED_OPT = typer.Option(False, "--allow-failed", help="Exit 0 even when cells failed (a matrix where "
                                "some failures are expected); by default a failed cell exits 4.")
FAIL_INVALID_OPT = typer.Option(False, "--fail-invalid", help="Exit 4 when a cell is invalid (too noisy to "
                                "trust), as for a failed one.")


def _list(values: Optional[Sequence[str]]) -> list[str]:
    return list(values or [])


# the commands --------------------------------------------------------------------------------------

@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="TOML or JSON config; default: the built-in demo."),
    config_opt: Optional[Path] = typer.Option(None, "--config", help="The same config file as an option "
                                              "(give it one way)."),
    sets: Optional[List[str]] = SET_OPT,
    twin: Optional[List[str]] = TWIN_OPT,
    runtime: Optional[List[str]] = RUNTIME_OPT,
    exporter: Optional[List[str]] = typer.Option(None, "--exporter", "-e", help="Exporter (repeatable)."),
    variant: Optional[List[str]] = typer.Option(None, "--variant", help="ONNX variant: ort-opt, fp16, int8."),
    batch: Optional[List[int]] = BATCH_OPT,
    seq_len: Optional[List[int]] = SEQ_LEN_OPT,
    threads: Optional[List[int]] = THREADS_OPT,
    device: Optional[List[str]] = typer.Option(None, "--device", help="cpu, cuda (repeatable)."),
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering twins."),
    onnx: Optional[List[str]] = typer.Option(None, "--onnx", help="Also benchmark this ONNX file (repeatable)."),
    onnx_input: Optional[List[str]] = typer.Option(None, "--onnx-input", help="NAME=ROLE: the role of an --onnx "
                                                   "file's input (tokens, mask, token_types, segments, positions; "
                                                   "[onnx_inputs] in a config; repeatable)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Judge the --onnx files against this original "
                                            "ONNX (run on ORT CPU in float64 where it can; docs/parity.md)."),
    golden: Optional[str] = typer.Option(None, "--golden", help="Judge the --onnx files against this .npz of inputs "
                                         "and expected outputs."),
    reference_runtime: Optional[str] = typer.Option(None, "--reference-runtime", help="Without --reference/--golden: "
                                                    "the runtime the others must agree with (default ort-cpu)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A realistic model size: "
                                         + ", ".join(SIZE_PRESETS) + " (docs/twins.md; options and the config win)."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="A finished run (e.g. the default size) whose "
                                            "runtime ranking the report shows next to this run's."),
    out: Optional[str] = typer.Option(None, "--out", help="Folder for run directories (default runs/)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs (both frameworks)."),
    vectors: Optional[str] = typer.Option(None, "--vectors", help="Pretrained word vectors (.vec text) for every twin."),
    freeze_embedding: Optional[bool] = typer.Option(None, "--freeze-embedding/--train-embedding",
                                                    help="Keep the pretrained embedding fixed in training."),
    repeats: Optional[int] = REPEATS_OPT,
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
    keep_failed: bool = typer.Option(False, "--keep-failed", help="With --resume: keep the cells that failed "
                                     "instead of measuring them again."),
    allow_failed: bool = ALLOW_FAILED_OPT,
    fail_invalid: bool = FAIL_INVALID_OPT,
    fast: bool = FAST_OPT,
    rigorous: bool = RIGOROUS_OPT,
    min_time: Optional[float] = MIN_TIME_OPT,
    max_time: Optional[float] = MAX_TIME_OPT,
    min_iters: Optional[int] = MIN_ITERS_OPT,
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Train, export, benchmark and verify; prints the report's path and a one-line summary. Exit 1 on
    a parity FAIL. The config: CONFIG (or --config), then --set items, then the other options."""

    def body(say: Say, progress: Progress) -> Answer:
        options = run_cmd.overrides(
            twin=twin, runtime=runtime, exporter=exporter, variant=variant, batch=batch, seq_len=seq_len,
            threads=threads, device=device, twin_module=twin_module, onnx=onnx, out=out, epochs=epochs,
            vectors=vectors, freeze_embedding=freeze_embedding, executor=executor, ray_address=ray_address,
            machine=machine, scenario=scenario, qps=qps, latency_bound=latency_bound, load_duration=load_duration,
            streams=streams, max_batch=max_batch, fast=fast, rigorous=rigorous, repeats=repeats,
            min_time=min_time, max_time=max_time, min_iters=min_iters, onnx_input=onnx_input, reference=reference,
            golden=golden, reference_runtime=reference_runtime)
        return run_cmd.main(config=_config_file(config, config_opt), sets=_list(sets), options=options,
                            preset=preset, baseline=baseline,
                            resume=resume, check=check, wait=not no_wait, allow_overlap=allow_overlap,
                            keep_failed=keep_failed, allow_failed=allow_failed, fail_invalid=fail_invalid,
                            say=say, progress=progress)

    _guard("run", body, Out(json_out, json_file), live=not check, quiet=quiet)


@app.command()
def parity(
    run_dir: Path = typer.Argument(..., help="A run directory whose artifacts to verify again."),
    runtime: Optional[List[str]] = RUNTIME_OPT,
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="Judge this ONNX file (optimised, quantised, edited) "
                                        "against --twin's golden in RUN_DIR instead."),
    judged_twin: Optional[str] = typer.Option(None, "--twin", "-t", help="With --onnx: the twin whose golden judges it."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/JSON with a 'judge' table (onnx, twin, "
                                          "runtimes): --onnx/--twin/-r kept in a file; options given win."),
    sets: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help="Override one key of the "
                                             "[judge] table, VALUE a TOML literal (repeatable): --set judge.twin=lstm."),
    twin_module: Optional[List[str]] = RUN_TWIN_MODULE_OPT,
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Parity alone, fast: re-run every artifact of RUN_DIR on the CPU runtimes (no timing). Exit 1 on FAIL.
    With --onnx FILE --twin NAME (or --config with a 'judge' table): is FILE still NAME's model?
    (first diverging layer on FAIL)."""
    _guard("parity", lambda _say, progress: parity_cmd.main(
        run_dir, runtimes=runtime, onnx=onnx, twin=judged_twin, config=config, sets=_list(sets),
        twin_modules=_list(twin_module), progress=progress), Out(json_out, json_file), live=True, quiet=quiet)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Run directory, pytest-benchmark JSON file or .benchmarks folder."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Lead with the changes against this run "
                                            "(verdicts as `twinbench compare BASELINE RUN_DIR` gives them) and "
                                            "add how the runtime ranking changed from it (figures copied in)."),
    summary_only: bool = typer.Option(False, "--summary", help="Print only the one-line summary (for a CI log); "
                                      "write nothing."),
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
) -> None:
    """Rebuild report.md and report.html from a run directory alone; they open with the answer (parity,
    fastest per shape, failed and invalid cells, changes against --baseline), metadata last."""
    _guard("report", lambda _say, _progress: report_cmd.main(run_dir, baseline=baseline, summary_only=summary_only),
           Out(json_out, json_file))


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
                                   "decided or the budget is spent (the measurement of `twinbench gate`)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="With --remeasure: worker processes per cell at "
                                          "the first look (at least 3)."),
    max_repeats: Optional[int] = MAX_REPEATS_OPT,
    time_budget: Optional[float] = TIME_BUDGET_OPT,
    fail_inconclusive: bool = typer.Option(False, "--fail-inconclusive",
                                           help="Exit 1 on an INCONCLUSIVE cell too (strict gates)."),
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="With --remeasure: module/.py "
                                                    "registering the runs' own twins (never taken from them)."),
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Per-cell regression verdicts between two runs on process-level figures; exit 1 on a regression."""
    _guard("compare", lambda say, progress: compare_cmd.main(
        base, candidate, fail_inconclusive=fail_inconclusive, min_effect=min_effect, alpha=alpha,
        allow_hardware=allow_hardware, allow_versions=allow_versions, remeasure=remeasure, repeats=repeats,
        max_repeats=max_repeats, time_budget=time_budget, twin_modules=_list(twin_module), say=say,
        progress=progress), Out(json_out, json_file), live=remeasure, quiet=quiet)


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
    fail_inconclusive: bool = typer.Option(False, "--fail-inconclusive", help="Exit 1 on an INCONCLUSIVE cell too."),
    out: Optional[str] = typer.Option(None, "--out", help="Folder for the two new run directories (default runs/)."),
    twin_module: Optional[List[str]] = RUN_TWIN_MODULE_OPT,
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """CI regression gate: both runs' artifacts measured here, interleaved, more processes for the cells still
    undecided until each is REGRESSION, IMPROVEMENT or SAME or the budget is spent; exit 1 on a regression."""
    _guard("gate", lambda say, progress: gate_cmd.main(
        base, candidate, fail_inconclusive=fail_inconclusive, repeats=repeats, out=out,
        twin_modules=_list(twin_module), say=say, progress=progress, min_effect=min_effect, alpha=alpha,
        max_repeats=max_repeats, time_budget_s=time_budget), Out(json_out, json_file), live=True, quiet=quiet)


@app.command()
def bench(
    run_dir: Path = typer.Argument(..., help="A run directory whose artifacts to measure again, here."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/JSON overrides (timing, runtime_settings, ...)."),
    sets: Optional[List[str]] = SET_OPT,
    runtime: Optional[List[str]] = RUNTIME_OPT,
    batch: Optional[List[int]] = BATCH_OPT,
    seq_len: Optional[List[int]] = SEQ_LEN_OPT,
    threads: Optional[List[int]] = THREADS_OPT,
    repeats: Optional[int] = REPEATS_OPT,
    out: Optional[str] = typer.Option(None, "--out", help="Folder for the new run directory (default runs/)."),
    twin_module: Optional[List[str]] = RUN_TWIN_MODULE_OPT,
    fast: bool = FAST_OPT,
    rigorous: bool = RIGOROUS_OPT,
    min_time: Optional[float] = MIN_TIME_OPT,
    max_time: Optional[float] = MAX_TIME_OPT,
    min_iters: Optional[int] = MIN_ITERS_OPT,
    allow_failed: bool = ALLOW_FAILED_OPT,
    fail_invalid: bool = FAIL_INVALID_OPT,
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Re-measure RUN_DIR's artifacts on this machine into a new run directory (no training or export).
    For runtime upgrades, A/A checks, and `twinbench hardware` on a run carried to another machine."""

    def body(say: Say, progress: Progress) -> Answer:
        overrides = bench_cmd.bench_overrides(
            config, _list(sets), runtime=runtime, batch=batch, seq_len=seq_len, threads=threads, out=out,
            fast=fast, rigorous=rigorous, repeats=repeats, min_time=min_time, max_time=max_time,
            min_iters=min_iters)
        return bench_cmd.main(run_dir, overrides=overrides, twin_modules=_list(twin_module),
                              allow_failed=allow_failed, fail_invalid=fail_invalid, say=say, progress=progress)

    _guard("bench", body, Out(json_out, json_file), live=True, quiet=quiet)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="Run directory (or pytest-benchmark JSON file / .benchmarks folder)."),
    fmt: str = typer.Option(..., "--format", "-f", help="bencher (Bencher metric format), gab "
                            "(github-action-benchmark customSmallerIsBetter: latency), gab-throughput "
                            "(customBiggerIsBetter) or pytest-benchmark."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
) -> None:
    """The run's ok cells in a CI dashboard's format (docs/ci.md)."""
    _guard("export", lambda _say, _progress: export_cmd.main(run_dir, fmt=fmt, out=out), Out(json_out, json_file))


@app.command()
def hardware(
    runs: List[Path] = typer.Argument(..., help="Run directories from different machines."),
    baseline: int = typer.Option(0, help="Index of the baseline run."),
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
) -> None:
    """The same matrix from several machines side by side, as ratios to a baseline machine."""
    _guard("hardware", lambda _say, _progress: hardware_cmd.main(runs, baseline=baseline), Out(json_out, json_file))


@app.command()
def history(
    twin: Optional[str] = typer.Option(None, "--twin", "-t", help="Only this twin."),
    runtime: Optional[str] = typer.Option(None, "--runtime", "-r", help="Only this runtime."),
    artifact: Optional[str] = typer.Option(None, "--artifact", help="Only this artifact (e.g. torch-dynamo)."),
    exporter: Optional[str] = typer.Option(None, "--exporter", "-e", help="Only this exporter."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Only this precision (fp32, fp16, ...)."),
    device: Optional[str] = typer.Option(None, "--device", help="Only this device (cpu, cuda)."),
    batch: Optional[int] = typer.Option(None, "--batch", "-b", help="Only this batch size."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", "-s", help="Only this sequence length."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Only this thread count."),
    machine: Optional[str] = typer.Option(None, "--machine", help="Fingerprint prefix, CPU model part, host or node tag."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Git commit: the full id or a prefix of at "
                                         "least 4 hex digits."),
    config_hash: Optional[str] = typer.Option(None, "--config-hash", help="Only runs of this config hash."),
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
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
) -> None:
    """Trend per cell and machine across recorded runs (every `run` and `bench` records itself), with
    steps (a change between consecutive points of one machine, tested on process figures) and, with
    --html PATH, a page of plots."""
    filters = {"twin": twin, "runtime": runtime, "artifact": artifact, "exporter": exporter, "precision": precision,
               "device": device, "batch": batch, "seq_len": seq_len, "threads": threads, "machine": machine,
               "git_commit": commit, "config_hash": config_hash, "kind": kind}
    _guard("history", lambda _say, _progress: history_cmd.main(
        filters, store=store, html=html, min_effect=min_effect, alpha=alpha, fail_on_step=fail_on_step),
        Out(json_out, json_file))


@app.command("check-system")
def check_system(
    seconds: float = typer.Option(3.0, "--seconds", help="How long to watch the machine's fast/slow state."),
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
) -> None:
    """What on this machine makes timings noisy (governor, turbo, load, busy processes, steal, slow state).
    Always exits 0: the verdict is advice, not a failure."""
    _guard("check-system", lambda _say, _progress: check_system_cmd.main(seconds=seconds), Out(json_out, json_file))


@app.command("list")
def list_(
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering twins."),
    json_out: bool = JSON_OPT,
    json_file: Optional[Path] = JSON_OUT_OPT,
) -> None:
    """Twins (with configs), exporters, variants and runtimes, and why any runtime is unavailable."""
    _guard("list", lambda _say, _progress: list_cmd.main(twin_modules=_list(twin_module)), Out(json_out, json_file))


# usage errors --------------------------------------------------------------------------------------

def _command_of(args: Sequence[str]) -> str | None:
    """The command named in `args` (its first word that is one), for a usage error's JSON object."""
    names = set(get_command(app).commands)  # type: ignore[attr-defined]
    return next((a for a in args if a in names), None)


def _json_wanted(args: Sequence[str]) -> Out:
    """`--json` / `--json-out FILE` as the raw arguments give them (the parser itself failed)."""
    file = None
    for i, a in enumerate(args):
        if a == "--json-out" and i + 1 < len(args):
            file = Path(args[i + 1])
        elif a.startswith("--json-out="):
            file = Path(a.split("=", 1)[1])
    return Out("--json" in args, file)


def main(argv: Sequence[str] | None = None) -> None:
    """The `twinbench` entry point: click's parser outside standalone mode, so that a usage error
    (an unknown option, a bad value) is also one JSON object when `--json` was given."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = get_command(app).main(args, prog_name="twinbench", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # plain `twinbench`: the help, as click shows it
        exc.show()
        code = exc.exit_code
    except ClickException as exc:  # a usage error, found before any command body ran: one line
        command = _command_of(args)
        _err(f"{exc.format_message()} (see `twinbench {command + ' ' if command else ''}--help`)")
        _emit_error(command, exc.exit_code, exc.format_message(), _json_wanted(args))
        code = exc.exit_code
    except typer.Abort:
        _err("interrupted")
        code = INTERRUPTED
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
