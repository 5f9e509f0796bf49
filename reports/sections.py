"""The content of a run report as plain blocks, rendered by markdown.py and html.py alike.

Building the content once keeps the two reports saying the same thing; `Figure` blocks name a plot
that only the HTML report draws. The report leads with the answer (reports/lead.py: the one-line
summary, the parity verdict, the fastest configuration per shape with its margin, the failed and
invalid cells, the changes against a baseline), then the detail, and the run's metadata last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from twinbench.bench.parity.verdict import overall_verdict, worst
from twinbench.core.machine import summary_rows
from twinbench.core.typed import to_plain
from twinbench.reports.format import fnum, fratio, fsci, is_missing, text
from twinbench.bench.parity.reference_check import reference_summary
from twinbench.reports.hardware import machines_tables
from twinbench.reports.lead import Lead, lead, summary_line, threads
from twinbench.reports.pytest_benchmark import is_pytest_run, own_label
from twinbench.reports.ranking import best_per_runtime, ranking_rows, read_baseline, size_label


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str
    role: str = ""  # "summary": the one-line summary (a quote in Markdown, a framed line in HTML)


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    """A plot by name (see plots.PLOTS) with its arguments; Markdown skips it."""

    kind: str
    twin: str = ""


Block = Heading | Para | Table | Figure


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> Table:
    al = tuple(align.ljust(len(headers), "l")) if align else ("l",) * len(headers)
    return Table(tuple(headers), tuple(tuple(text(c) for c in r) for r in rows), al)


def worst_verdict(verdicts: Sequence[Any]) -> str:
    """The verdict shown for a group of parity rows: its worst row's."""
    return worst(text(v) for v in verdicts)


def _twins(run: Any) -> list[str]:
    names: list[str] = []
    for df in (run.results, run.parity, run.training):
        if len(df) and "twin" in df:
            names += [text(t) for t in df["twin"] if text(t)]
    return sorted(set(names))


def metadata_blocks(run: Any) -> list[Block]:
    """Where and with what the run was measured: the run, its machine and every library's version."""
    m = run.manifest
    mach = m.machine
    gpu = mach.gpu
    gpu_s = f"{gpu.name} ({gpu.memory_gb} GB, driver {gpu.driver})" if gpu else "none"
    rows = [("run", run.run_id), ("created", m.created), ("git commit", m.git_commit or "-"),
            ("CPU", f"{mach.cpu_model or '?'} ({'?' if mach.cpu_cores is None else mach.cpu_cores} cores)"),
            ("memory", f"{'?' if mach.memory_gb is None else mach.memory_gb} GB"), ("GPU", gpu_s),
            ("host", mach.host), ("OS", mach.os), ("machine fingerprint", mach.fingerprint)]
    rows += summary_rows(to_plain(mach))  # CPU details, frequency, VM/container (core/machine.py)
    timings = m.timings
    if timings:
        rows.append(("timings", ", ".join(f"{k} {v}" for k, v in timings.items())))
    versions = m.versions
    blocks: list[Block] = [Heading(2, "Run and machine"), table(["", ""], rows)]
    if versions:
        blocks += [Heading(3, "Library versions"), table(["library", "version"], sorted(versions.items()))]
    return blocks


def twin_blocks(run: Any) -> list[Block]:
    """Each twin's config and its parameter counts, torch next to Keras, every difference explained."""
    params = run.params if run.params is not None else []
    configs = getattr(run, "twin_configs", {}) or {}
    names = sorted(set(configs) | ({text(t) for t in params["twin"]} if len(params) else set()))
    if not names:
        return []
    blocks: list[Block] = [Heading(2, "Twins")]
    for twin in names:
        blocks.append(Heading(3, twin))
        cfg = configs.get(twin)
        if cfg:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(cfg.items()) if v is not None)
            blocks.append(Para(f"config: {shown}"))
        sub = params[params["twin"].map(text) == twin] if len(params) else []
        if len(sub):
            rows = [(r.layer, text(r.torch), text(r.keras), text(r.difference), text(r.why)) for r in sub.itertuples()]
            blocks.append(table(["layer", "torch params", "keras params", "difference", "why"], rows, "lrrrl"))
    return blocks


def parity_blocks(run: Any) -> list[Block]:
    df = run.parity
    blocks: list[Block] = [Heading(2, "Parity")]
    if not len(df):
        return blocks + [Para("No parity checks in this run.")]
    blocks.append(Para(f"**Overall verdict: {overall_verdict(df)}** (every output against the twin's float64 "
                       "torch golden; cells show the worst eval set: verdict, max abs error, profile)"))
    golden_line = reference_summary(df)  # the golden itself against the NumPy reference
    if golden_line:
        blocks.append(Para(golden_line))
    for twin in sorted({text(t) for t in df["twin"]}):
        sub = df[df["twin"].map(text) == twin]
        runtimes = sorted({text(r) for r in sub["runtime"]})
        rows = []
        for art in sorted({text(a) for a in sub["artifact"]}):
            row = [art]
            for rt in runtimes:
                g = sub[(sub["artifact"].map(text) == art) & (sub["runtime"].map(text) == rt)]
                if not len(g):
                    row.append("")
                    continue
                mx = g["max_abs"].astype(float).max() if g["max_abs"].notna().any() else None
                profiles = "/".join(sorted({text(p) for p in g["profile"] if text(p)}))
                row.append(f"{worst_verdict(list(g['verdict']))} {fsci(mx)} ({profiles or '-'})")
            rows.append(row)
        blocks += [Heading(3, f"{twin}"), table(["artifact"] + runtimes, rows), Figure("parity", twin)]
    bad = df[df["verdict"].map(text).isin(["FAIL", "ERROR"])]
    if len(bad):
        rows = [(r.twin, r.artifact, r.runtime, r.device, r.inputs, r.verdict, fsci(r.max_abs), fsci(r.atol),
                 fsci(r.rtol), text(r.first_divergent_layer), text(r.error)) for r in bad.itertuples()]
        blocks += [Heading(3, "Failures"), table(["twin", "artifact", "runtime", "device", "inputs", "verdict",
                                                  "max abs", "atol", "rtol", "first divergent layer", "error"],
                                                 rows)]
    return blocks


def _timed(results: Any) -> Any:
    ok = results["status"].map(text).isin(["ok", "invalid"])
    return results[ok & results["p50_ms"].notna()]


def _speed_intro(df: Any, empty: str, intro: str) -> list[Block]:
    """The Speed heading and what its tables mean, or the line saying nothing was timed."""
    return [Heading(2, "Speed"), Para(intro if len(df) else empty)]


def pytest_speed_blocks(run: Any) -> list[Block]:
    """A run converted from pytest-benchmark: its benchmarks by their own group, name and params."""
    df = _timed(run.results)
    blocks = _speed_intro(df, "No timed benchmarks in this file.",
                          "pytest-benchmark benchmarks per group, fastest first. 'median' is the median over pytest "
                          "sessions of each session's median (one session is one process); 'per s' is calls per "
                          "second at that median (sequences per second for `twinbench_cell` benchmarks); "
                          "'sessions' counts the sessions, 'spread' is the between-session spread of their medians.")
    if not len(df):
        return blocks
    labelled = [(own_label(r), r) for r in df.to_dict("records")]
    for group in sorted({label[0] for label, _ in labelled}):
        mine = sorted(((label, r) for label, r in labelled if label[0] == group), key=lambda lr: float(lr[1]["p50_ms"]))
        best = float(mine[0][1]["p50_ms"])
        rows = [(i, label[1], label[2] or "-", fnum(r["p50_ms"]), fratio(float(r["p50_ms"]) / best if best > 0 else None),
                 fnum(r["min_ms"]), fnum(r["mean_ms"]), fnum(r["max_ms"]), fnum(r["throughput_sps"]),
                 _count(r["repeats"]), _pct(r["between_spread"])) for i, (label, r) in enumerate(mine, 1)]
        blocks += [Heading(3, f"group {group}" if group else "no group"),
                   table(["#", "benchmark", "params", "median ms", "vs fastest", "min ms", "mean ms", "max ms",
                          "per s", "sessions", "spread"], rows, "rllrrrrrrrr")]
    return blocks


#: Twins whose speed plots a report draws (sorted by name); a matrix of many twins is tables after these.
PLOTTED_TWINS = 6


def speed_blocks(run: Any) -> list[Block]:
    if is_pytest_run(run):
        return pytest_speed_blocks(run)
    df = _timed(run.results)
    blocks = _speed_intro(df, "No timed cells in this run.",
                          "Per batch x sequence length, runtimes ranked by median latency (p50: the median of "
                          "the worker processes' fast-state medians, docs/measurement.md); 'vs fastest' is p50 / "
                          "the fastest p50; throughput is sequences per second; 'procs' is worker processes; "
                          "'spread' is the between-process spread of their figures and 'MDE' the smallest change "
                          "a compare of two such runs can detect (alpha 0.01, power 0.8).")
    if not len(df):
        return blocks
    twins = sorted({text(t) for t in df["twin"]} - {CALIBRATION})
    if len(twins) > PLOTTED_TWINS:
        blocks.append(Para(f"Plots are drawn for the first {PLOTTED_TWINS} of {len(twins)} twins (a report's size "
                           "and build time stay bounded); every cell of every twin is in the tables."))
    for i, twin in enumerate(twins):
        sub = df[df["twin"].map(text) == twin]
        plots = [Figure(name, twin) for name in ("latency_vs_batch", "latency_vs_seq", "throughput",
                                                 "distribution")] if i < PLOTTED_TWINS else []
        blocks += [Heading(3, twin), *plots]
        for (batch, seq), g in sub.groupby(["batch", "seq_len"], sort=True):
            g = g.sort_values("p50_ms", kind="stable")
            best = float(g["p50_ms"].iloc[0])
            rows = []
            for i, r in enumerate(g.itertuples(), 1):
                err = text(r.error)
                flag = (err if err.startswith("invalid") else f"invalid: {err}") if text(r.status) == "invalid" else ""
                rows.append((i, r.artifact, r.runtime, _where(r), text(r.threads), fnum(r.p50_ms),
                             fratio(float(r.p50_ms) / best if best > 0 else None), fnum(r.p90_ms),
                             fnum(r.p99_ms), fnum(r.throughput_sps), _count(r.repeats), _pct(r.between_spread),
                             _pct(r.mde), flag))
            blocks += [Heading(4, f"{twin}: batch {batch}, seq_len {seq}"),
                       table(["#", "artifact", "runtime", "device", "threads", "p50 ms", "vs fastest", "p90 ms",
                              "p99 ms", "seq/s", "procs", "spread", "MDE", "flags"], rows, "rllllrrrrrrrrl")]
        cold = sub.groupby(["artifact", "runtime", "device"], sort=True)[["cold_load_ms", "cold_first_run_ms",
                                                                         "peak_rss_mb"]]
        rows = [(a, rt, dev, fnum(v["cold_load_ms"]), fnum(v["cold_first_run_ms"]), fnum(v["peak_rss_mb"]))
                for (a, rt, dev), v in cold.median().iterrows()]
        blocks += [Heading(4, f"{twin}: cold start (median over cells)"),
                   table(["artifact", "runtime", "device", "load ms", "first run ms", "peak RSS MB"], rows,
                         "lllrrr")]
    return blocks


CALIBRATION = "_calibration"


def _where(r: Any) -> str:
    """The device, and the kind of machine when the run had several (`machines`, e.g. "cpu @ hw:cpu-a")."""
    machine = text(getattr(r, "machine", ""))
    return f"{text(r.device)} @ {machine}" if machine else text(r.device)


def _pct(v: Any) -> str:
    return "-" if is_missing(v) else f"{float(v):.1%}"


def _count(v: Any) -> str:
    return "-" if is_missing(v) else str(int(v))


def machine_blocks(run: Any) -> list[Block]:
    """The machine's own noise while this run measured: the calibration cell (a trivial ONNX Add)
    across worker processes, and how much of the time the machine spent in its fast state."""
    blocks: list[Block] = [Heading(2, "Machine noise floor")]
    if is_pytest_run(run):
        return blocks + [Para("Not measured: pytest-benchmark records no calibration cell and no machine-state "
                              "probe, so every session counts as one process in the fast state.")]
    res = run.results
    cal = res[(res["twin"].map(text) == CALIBRATION) & res["status"].map(text).isin(["ok", "invalid"])]
    rounds = getattr(run, "rounds", None)
    lines = []
    if len(cal):
        r = cal.iloc[0]
        lines.append(f"Calibration cell (trivial ONNX Add on ort-cpu): p50 {fnum(r['p50_ms'] * 1e3)} us over "
                     f"{_count(r['repeats'])} processes, between-process spread {_pct(r['between_spread'])}, "
                     f"minimum detectable effect {_pct(r['mde'])}.")
    if rounds is not None and len(rounds) and "fast" in rounds:
        fast = rounds["fast"].astype(bool)
        probe = rounds["probe_py_us"].astype(float)
        lines.append(f"Machine-state probe over {len(rounds)} timed rounds: {fast.mean():.0%} in the fast state "
                     f"(probe {fnum(probe[fast].median())} us), {1 - fast.mean():.0%} slow "
                     f"(probe {fnum(probe[~fast].median()) if (~fast).any() else '-'} us). Headline figures use "
                     "fast-state rounds only.")
    timed = _timed(res)
    timed = timed[timed["twin"].map(text) != CALIBRATION]
    if len(timed) and "mde" in timed and timed["mde"].notna().any():
        lines.append(f"Minimum detectable effect across cells: median {_pct(timed['mde'].median())}, "
                     f"worst {_pct(timed['mde'].max())}.")
    return blocks + [Para(" ".join(lines) if lines else "Not measured in this run (no calibration cell or repeats).")]


def machines_blocks(run: Any) -> list[Block]:
    """Cells measured on several kinds of machine in one run, side by side (reports/hardware.py)."""
    parts = machines_tables(run)
    if not parts:
        return []
    return [Heading(2, "Machines side by side")] + [Para(p) if isinstance(p, str) else table(*p) for p in parts]


def training_blocks(run: Any) -> list[Block]:
    df = run.training
    blocks: list[Block] = [Heading(2, "Training")]
    if not len(df):
        return blocks + [Para("No training in this run.")]
    for twin in sorted({text(t) for t in df["twin"]}):
        sub = df[df["twin"].map(text) == twin]
        fws = sorted({text(f) for f in sub["framework"]})
        metrics = [m for m in ("train_loss", "val_loss", "val_acc", "val_token_acc", "seconds")
                   if sub[m].notna().any()]
        headers = ["epoch"] + [f"{fw} {m}" for m in metrics for fw in fws]
        rows = []
        for epoch in sorted({int(e) for e in sub["epoch"].dropna()}):
            e = sub[sub["epoch"] == epoch]
            row: list[Any] = [epoch]
            for m in metrics:
                for fw in fws:
                    v = e[e["framework"].map(text) == fw][m]
                    row.append(fnum(v.iloc[0], 4) if len(v) else "-")
            rows.append(row)
        modes = ", ".join(sorted({text(x) for x in sub["mode"] if text(x)})) or "-"
        blocks += [Heading(3, f"{twin} (mode: {modes})"), table(headers, rows, "l" + "r" * (len(headers) - 1)),
                   Figure("training", twin)]
        summary = []
        for fw in fws:
            f = sub[sub["framework"].map(text) == fw].sort_values("epoch")
            last = f.iloc[-1]
            summary.append((fw, int(last["epoch"]), fnum(last["train_loss"], 4), fnum(last["val_loss"], 4),
                            fnum(last["val_acc"], 4), fnum(f["seconds"].astype(float).sum())))
        if len(fws) == 2:
            a, b = (sub[sub["framework"].map(text) == fw].set_index("epoch")["train_loss"] for fw in fws)
            diff = (a.astype(float) - b.astype(float)).abs().max()
            summary.append(("max abs train-loss difference", "", fsci(diff), "", "", ""))
        blocks.append(table(["framework", "epochs", "final train loss", "final val loss", "final val acc",
                             "total s"], summary, "lrrrrr"))
    return blocks


def problem_blocks(run: Any) -> list[Block]:
    df = run.results
    bad = df[df["status"].map(text).isin(["failed", "skipped", "invalid"])]
    blocks: list[Block] = [Heading(2, "Skipped, failed and invalid cells")]
    if not len(bad):
        return blocks + [Para("None.")]
    bad = bad.sort_values(["status", "twin", "artifact", "runtime", "batch", "seq_len"], kind="stable")
    rows = [(r.status, r.twin, r.artifact, r.runtime, r.device, text(r.batch), text(r.seq_len), text(r.error))
            for r in bad.itertuples()]
    return blocks + [table(["status", "twin", "artifact", "runtime", "device", "batch", "seq_len", "reason"],
                           rows)]


#: Failed and invalid cells (and changed cells) listed in the lead; the rest are in the sections below.
LEAD_PROBLEMS = 20


def _parity_lead(found: Lead) -> list[Block]:
    if found.parity == "NONE":
        return [Para("**Parity: no checks in this run.**")]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(found.parity_checks.items()))
    blocks: list[Block] = [Para(f"**Parity: {found.parity}** ({counts}; every output against its twin's float64 "
                                "torch golden, details under Parity).")]
    if found.parity_failures:
        blocks.append(table(["failing artifact on runtime"], [(f,) for f in found.parity_failures]))
    return blocks


def _fastest_lead(found: Lead) -> list[Block]:
    if not found.fastest:
        return [Para("**Speed:** no timed ok cells in this run.")]
    rows = []
    for f in found.fastest:
        noise = {True: "within noise", False: "", None: "-"}[f.within_noise] if f.runner_up else "only one"
        rows.append((f.shape, f.winner, fnum(f.p50_ms), f.runner_up or "-", fnum(f.runner_up_p50_ms),
                     fratio(f.margin), noise))
    return [Heading(3, "Fastest per shape"),
            Para("The fastest ok configuration of each shape, its p50 and how much slower the next one is "
                 "('margin' = next p50 / fastest p50); 'within noise' when the margin is below the cells' "
                 "minimum detectable effect (or between-process spread), so another run may rank them the "
                 "other way."),
            table(["shape", "fastest", "p50 ms", "next", "next p50 ms", "margin", "note"], rows, "llrlrrl")]


def _problems_lead(found: Lead) -> list[Block]:
    if not found.problems:
        return []
    shown = found.problems[:LEAD_PROBLEMS]
    blocks: list[Block] = [Heading(3, "Failed and invalid cells"),
                           table(["status", "cell", "reason"], [(p.status, p.cell, p.reason) for p in shown])]
    if len(found.problems) > len(shown):
        blocks.append(Para(f"... and {len(found.problems) - len(shown)} more under 'Skipped, failed and invalid "
                           "cells'."))
    return blocks


def _changes_lead(found: Lead) -> list[Block]:
    ch = found.changes
    if ch is None:
        return []
    counts = ", ".join(f"{n} {v}" for v, n in ch.verdicts.items()) or "no speed cells in common"
    blocks: list[Block] = [Heading(3, f"Changes against {ch.base}"),
                           Para(f"Speed: {counts}; parity changes: {ch.parity_changes} (verdicts on process-level "
                                f"figures; `twinbench compare {ch.base} {found.run_id}` shows the evidence).")]
    shown = ch.moved[:LEAD_PROBLEMS]
    if shown:
        rows = [(r.get("verdict"), _moved_cell(r), fnum(r.get("base_p50_ms")), fnum(r.get("cand_p50_ms")),
                 fratio(r.get("ratio")), _evidence(r), text(r.get("note"))) for r in shown]
        blocks.append(table(["verdict", "cell", "base p50 ms", "p50 ms", "ratio", "evidence", "note"], rows,
                            "llrrrll"))
    if len(ch.moved) > len(shown):
        blocks.append(Para(f"... and {len(ch.moved) - len(shown)} more (largest changes shown first)."))
    return blocks


def _evidence(r: dict[str, Any]) -> str:
    """What a verdict rests on: processes a side, looks, interval ("n 5/5, 1 look, CI 1.08-1.12")."""
    if is_missing(r.get("n_base")):
        return "-"
    looks = 1 if is_missing(r.get("looks")) else int(r["looks"])
    interval = "" if is_missing(r.get("ci_low")) else f", CI {float(r['ci_low']):.3f}-{float(r['ci_high']):.3f}"
    return f"n {int(r['n_base'])}/{int(r['n_cand'])}, {looks} look{'s' if looks != 1 else ''}{interval}"


def _moved_cell(r: dict[str, Any]) -> str:
    if text(r.get("benchmark")):
        return " ".join(p for p in own_label(r) if p)
    return (f"{text(r.get('twin'))}/{text(r.get('artifact'))} on {text(r.get('runtime'))} {text(r.get('device'))}, "
            f"batch {text(r.get('batch'))}, seq_len {text(r.get('seq_len'))}, {threads(r.get('threads'))}")


def lead_blocks(found: Lead) -> list[Block]:
    """The answer first: the summary line, parity, cells, the fastest per shape, what went wrong,
    and what changed against the baseline."""
    cells = ", ".join(f"{n} {s}" for s, n in found.cells.items()) or "none"
    return ([Heading(2, "Summary"), Para(summary_line(found), role="summary")] + _parity_lead(found)
            + [Para(f"**Cells:** {cells}.")] + _fastest_lead(found) + _problems_lead(found) + _changes_lead(found))


def _moved(n: int) -> str:
    return "=" if n == 0 else (f"up {n}" if n > 0 else f"down {-n}")


def _ranked_p50(p50: float, status: str) -> str:
    """A ranked figure, marked when no valid cell of that runtime gave it (see the problem cells)."""
    return fnum(p50) if status == "ok" else f"{fnum(p50)} ({status})"


def ranking_blocks(run: Any) -> list[Block]:
    """'Ranking vs the baseline': when the run was given a baseline run (`--baseline`, e.g. the
    default size next to a `--preset`), each runtime's rank and p50 in both, per batch size
    (reports/ranking.py); nothing otherwise."""
    base = read_baseline(run.path)
    if base is None:
        return []
    blocks: list[Block] = [Heading(2, f"Ranking vs the baseline ({base.get('run_id', '?')})")]
    mine, size = best_per_runtime(run.results), size_label(run.path)
    blocks.append(Para(f"How the runtime ranking changes with the model: baseline {base.get('size') or '?'}, this "
                       f"run {size or '?'}. Per batch size, every runtime both runs measured, ranked by its fastest "
                       f"artifact's p50 at each run's longest sequence length; 'x baseline' is this run's p50 / the "
                       f"baseline's, 'moved' the change of rank; a p50 marked (invalid) is the runtime's "
                       f"fastest figure where none of its cells was valid."))
    by_batch = ranking_rows(mine, list(base["rows"]))
    if not by_batch:
        return blocks + [Para("No batch size and runtime measured in both runs.")]
    for batch, rows in by_batch.items():
        lead, base_lead = rows[0]["runtime"], min(rows, key=lambda r: r["base_rank"])["runtime"]
        change = (f"fastest: {base_lead} at the baseline size, {lead} here" if lead != base_lead
                  else f"fastest in both: {lead}")
        table_rows = [(r["rank"], r["runtime"], _ranked_p50(r["p50_ms"], r["status"]), r["artifact"], r["base_rank"],
                       _ranked_p50(r["base_p50_ms"], r["base_status"]), r["base_artifact"], fratio(r["ratio"]),
                       _moved(r["moved"])) for r in rows]
        blocks += [Heading(3, f"batch {batch} (seq_len {rows[0]['seq_len']} here, {rows[0]['base_seq_len']} "
                              f"in the baseline): {change}"),
                   table(["rank", "runtime", "p50 ms", "artifact", "baseline rank", "baseline p50 ms",
                          "baseline artifact", "x baseline", "moved"], rows=table_rows, align="rlrlrrlrl")]
    return blocks


def report_blocks(run: Any, compared: Any = None, found: Lead | None = None) -> list[Block]:
    """The whole report, top to bottom: the answer (`lead_blocks`), then parity, speed, machines,
    training, twins and every problem cell in detail, then the run's metadata. `compared`: the rows
    of `compare_loaded(baseline, run)` when a baseline was given (or pass `found` directly)."""
    found = found or lead(run, compared)
    return ([Heading(1, f"twinbench report: {run.run_id}")] + lead_blocks(found) + parity_blocks(run)
            + speed_blocks(run) + ranking_blocks(run) + machines_blocks(run) + machine_blocks(run) + training_blocks(run)
            + twin_blocks(run) + problem_blocks(run) + metadata_blocks(run))
