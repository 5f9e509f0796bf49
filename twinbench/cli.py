"""Command line: `twinbench run|parity|report|compare|hardware|history|list`.

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

from twinbench.errors import ConfigError, TwinbenchError, one_line, summary

# TensorFlow's C++ INFO lines (grappler "Starting new session", GPU probing) drown the progress
# output; a user who wants them sets the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train PyTorch/Keras twins, export to ONNX, benchmark every runtime, verify parity.")

INTERNAL_ERROR = 3


def _err(msg: str) -> None:
    print(f"twinbench: error: {msg}", file=sys.stderr)


def _guard(fn: Callable[[], int]) -> None:
    """Run a command body; map errors to one line and an exit code."""
    try:
        code = fn()
    except TwinbenchError as exc:
        _err(summary(exc) or type(exc).__name__)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: keep the traceback, show one line
        log = _error_log(traceback.format_exc())
        _err(f"internal error: {one_line(exc)} (traceback in {log})")
        raise typer.Exit(INTERNAL_ERROR) from None
    raise typer.Exit(code)


def _error_log(text: str) -> Path | str:
    """The traceback of an internal error, in this user's cache folder (one file per process, not
    a shared /tmp file another user may own); where that fails, the traceback on stderr."""
    try:
        from twinbench.userdirs import cache_dir

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


def _progress_runner(body: Callable[[Callable[[str], None], Callable[[int, int, str], None]], Any]) -> Any:
    """Give the pipeline a rich progress bar on stderr (plain lines when not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("preparing", total=None)

        def say(msg: str) -> None:
            bar.console.print(f"[dim]·[/dim] {msg}")

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"cells: {label}"[:60])

        return body(say, progress)


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
) -> None:
    """Train, export, benchmark and verify; prints the report's path. Exit 1 on a parity FAIL."""

    def body() -> int:
        from twinbench.config import load_config
        from twinbench.pipeline import run as run_pipeline

        overrides = _overrides(twins=twin, runtimes=runtime, exporters=exporter, variants=variant, batches=batch,
                               seq_lens=seq_len, threads=threads, devices=device, twin_modules=twin_module,
                               onnx=onnx, out_dir=out)
        if epochs is not None:
            overrides["training"] = {"epochs": epochs}
        if repeats is not None:
            overrides["timing"] = {"repeats": repeats}
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
            from twinbench.resume import open_for_resume

            if config is not None or overrides:
                raise ConfigError("--resume: continues the run with its own config; give no config or options")
            cfg = open_for_resume(resume)[0]
        else:
            cfg = load_config(config, overrides)
        outcome = _progress_runner(lambda say, progress: run_pipeline(
            cfg, say=say, progress=progress, resume=resume, wait=not no_wait, allow_overlap=allow_overlap))
        from twinbench.reports.load import summary_lines

        for line in summary_lines(outcome.run_dir):  # Server max QPS and Offline samples/s per runtime
            print(line)
        print(f"parity: {outcome.parity_verdict}")
        print(f"report: {outcome.report_md}")
        if outcome.report_html:
            print(f"html:   {outcome.report_html}")
        return 1 if outcome.parity_verdict == "FAIL" else 0

    _guard(body)


@app.command()
def parity(
    run_dir: Path = typer.Argument(..., help="A run directory whose artifacts to verify again."),
    runtime: Optional[List[str]] = RUNTIME_OPT,
) -> None:
    """Parity alone, fast: re-run every artifact of RUN_DIR on the CPU runtimes (no timing). Exit 1 on FAIL."""

    def body() -> int:
        from twinbench.pipeline import parity_only

        df, verdict = parity_only(run_dir, runtimes=list(runtime) if runtime else None)
        _print_parity(df)
        print(f"parity: {verdict}")
        return 1 if verdict == "FAIL" else 0

    _guard(body)


def _print_parity(df: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    if df is None or not len(df):
        return
    table = Table("twin", "artifact", "runtime", "inputs", "profile", "max_abs", "verdict")
    for row in df.itertuples():
        table.add_row(str(row.twin), str(row.artifact), str(row.runtime), str(row.inputs), str(row.profile),
                      f"{row.max_abs:.2e}" if row.max_abs == row.max_abs else "-", str(row.verdict))
    Console().print(table)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="Run directory (or a pytest-benchmark JSON file).")) -> None:
    """Rebuild report.md and report.html from a run directory alone."""

    def body() -> int:
        from twinbench.reports import build_reports

        md, html = build_reports(run_dir)
        print(f"report: {md}")
        print(f"html:   {html}")
        return 0

    _guard(body)


@app.command()
def compare(
    base: Path = typer.Argument(..., help="Baseline run directory."),
    candidate: Path = typer.Argument(..., help="Candidate run directory."),
    min_effect: float = typer.Option(0.05, help="Smallest slowdown that counts (0.05 = 5%)."),
    alpha: float = typer.Option(0.01, help="Significance level of the test on the process figures."),
    allow_hardware: bool = typer.Option(False, help="Allow runs from different machines."),
    allow_versions: bool = typer.Option(False, help="Allow runs with different library versions."),
    remeasure: bool = typer.Option(False, "--remeasure", help="Measure both runs' artifacts again here, "
                                   "interleaved repeat by repeat, and compare those (cancels the machine's drift)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="With --remeasure: worker processes per cell."),
    fail_inconclusive: bool = typer.Option(False, "--fail-inconclusive",
                                           help="Exit 1 on an INCONCLUSIVE cell too (strict gates)."),
) -> None:
    """Per-cell regression verdicts between two runs on process-level figures; exit 1 on a regression."""

    def body() -> int:
        from twinbench.reports.compare import compare_markdown, compare_runs, has_regression

        a, b, evidence = base, candidate, "two independent runs"
        if remeasure:
            from twinbench.remeasure import remeasure_interleaved

            overrides = {"timing": {"repeats": repeats}} if repeats else None
            oa, ob = _progress_runner(lambda say, progress: remeasure_interleaved(base, candidate, overrides,
                                                                                   say=say, progress=progress))
            a, b = oa.run_dir, ob.run_dir
            evidence = f"interleaved re-measurement of both runs' artifacts ({a.name}, {b.name})"
        elif repeats:
            raise ConfigError("--repeats: only with --remeasure (a stored run keeps its own repeats)")
        df = compare_runs(a, b, min_effect=min_effect, alpha=alpha, allow_hardware=allow_hardware,
                          allow_versions=allow_versions, evidence=evidence)
        print(compare_markdown(df))
        inconclusive = fail_inconclusive and bool((df["verdict"] == "INCONCLUSIVE").any())
        return 1 if has_regression(df) or inconclusive else 0

    _guard(body)


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
) -> None:
    """Re-measure RUN_DIR's artifacts on this machine into a new run directory (no training or export).
    For runtime upgrades, A/A checks, and `twinbench hardware` on a run carried to another machine."""

    def body() -> int:
        from twinbench.config import read_config_file
        from twinbench.remeasure import remeasure as remeasure_run

        overrides: dict[str, Any] = dict(read_config_file(config)) if config else {}
        overrides.update(_overrides(runtimes=runtime, batches=batch, seq_lens=seq_len, threads=threads, out_dir=out))
        if repeats is not None:
            overrides["timing"] = {**dict(overrides.get("timing") or {}), "repeats": repeats}
        outcome = _progress_runner(lambda say, progress: remeasure_run(run_dir, overrides, say=say, progress=progress))
        print(f"parity: {outcome.parity_verdict}")
        print(f"report: {outcome.report_md}")
        print(f"run:    {outcome.run_dir}")
        return 1 if outcome.parity_verdict == "FAIL" else 0

    _guard(body)


@app.command()
def hardware(
    runs: List[Path] = typer.Argument(..., help="Run directories from different machines."),
    baseline: int = typer.Option(0, help="Index of the baseline run."),
) -> None:
    """The same matrix from several machines side by side, as ratios to a baseline machine."""

    def body() -> int:
        from twinbench.reports.hardware import hardware_markdown, hardware_table

        print(hardware_markdown(hardware_table(list(runs), baseline=baseline)))
        return 0

    _guard(body)


@app.command()
def history(
    twin: Optional[str] = typer.Option(None, "--twin"),
    runtime: Optional[str] = typer.Option(None, "--runtime"),
    artifact: Optional[str] = typer.Option(None, "--artifact"),
    store: Optional[Path] = typer.Option(None, "--store", help="History store (default runs/history.parquet)."),
) -> None:
    """A cell's trend across recorded runs."""

    def body() -> int:
        from twinbench.reports.history import history as load_history
        from twinbench.reports.history import history_markdown

        df = load_history(twin=twin, runtime=runtime, artifact=artifact, store=store)
        print(history_markdown(df))
        return 0

    _guard(body)


@app.command("list")
def list_cmd(
    twin_module: Optional[List[str]] = typer.Option(None, "--twin-module", help="Module/.py registering twins."),
) -> None:
    """Twins (with configs), exporters, variants and runtimes, and why any runtime is unavailable."""

    def body() -> int:
        from twinbench.listing import print_listing

        print_listing(list(twin_module or []))
        return 0

    _guard(body)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
