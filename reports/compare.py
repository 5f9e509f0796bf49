"""Run vs run: did the candidate get slower, faster, or less exact than the baseline?

Speed verdicts rest on process-level figures (reports/verdicts.py): each cell's fast-state p50 of
every worker process, both runs' rounds labelled against ONE fast level when they come from the
same kind of machine, so a state one run never saw is kept out of the verdict. The answer is
REGRESSION, IMPROVEMENT, SAME or INCONCLUSIVE with the reason; per-iteration samples are never
treated as independent evidence.

Parity rows are a REGRESSION when the verdict got worse (PASS -> FAIL/ERROR) or max abs error grew
more than `PARITY_GROWTH` times. A cell that ran in the baseline but failed in the candidate is a
REGRESSION too. Exit-code rule for the CLI: 1 if `has_regression(df)`, else 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from twinbench.core.keys import KEY_FIELDS
from twinbench.core.schema import KEY
from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.format import fnum, fratio, fsci, is_missing, md_table, text
from twinbench.reports.load_compare import load_compare_markdown, load_compare_rows
from twinbench.reports.pytest_benchmark import OWN_COLUMNS, is_pytest_run, own_label
from twinbench.reports.verdicts import sequential_test, speed_test
from twinbench.bench.sequential import SequentialDesign
from twinbench.bench.repeats import fast_level
from twinbench.bench.repeats import process_figures
from twinbench.reports.pytest_benchmark import as_run_dir
from twinbench.reports.tables import load_run

#: Cell identity across runs (KEY without run_id).
CELL_KEY = [k for k in KEY if k != "run_id"]
#: Speed cells meet by their CellKey (core/keys.py): the cell and the kind of machine that measured it.
SPEED_KEY = list(KEY_FIELDS)
PARITY_KEY = ["twin", "artifact", "exporter", "precision", "runtime", "device", "inputs"]
PARITY_GROWTH = 10.0
VERDICTS = ("REGRESSION", "IMPROVEMENT", "INCONCLUSIVE", "SAME")
COMPARE_COLUMNS = ["kind", *SPEED_KEY, "inputs", "verdict", "ratio", "ci_low", "ci_high", "p_value", "mde",
                   "base_p50_ms", "cand_p50_ms", "n_base", "n_cand", "base_parity", "cand_parity",
                   "base_max_abs", "cand_max_abs", "note", "scenario", "base_value", "cand_value",
                   "more_per_side",  # INCONCLUSIVE speed cells: more processes a side that would likely decide it
                   "looks", "level", "stop",  # the evidence of a sequential comparison (twinbench gate)
                   *OWN_COLUMNS]
#: What one figure of the speed test is, per kind of run (the evidence line of compare_markdown).
FIGURE = {"twinbench": "one figure per worker process (its fast-state p50)",
          "pytest-benchmark": "one figure per pytest session (its median: a session is one process, and its "
                              "rounds are not independent evidence)"}
#: Library versions that do not change what is measured (ignored by the version check).
IGNORED_VERSIONS = ("twinbench",)


def check_comparable(base: Any, cand: Any, *, allow_hardware: bool = False, allow_versions: bool = False) -> list[str]:
    """ConfigError (one line) when machines or library versions differ and that was not allowed;
    otherwise the list of differences a reader of the verdicts should know (config, versions,
    machine)."""
    notes = []
    mb, mc = base.manifest.machine, cand.manifest.machine
    fb, fc = mb.fingerprint, mc.fingerprint
    if fb != fc:
        if not allow_hardware:
            raise ConfigError(f"machines differ ({fb} {mb.cpu_model or '?'} vs {fc} {mc.cpu_model or '?'}); "
                              "use `twinbench hardware` or pass --allow-hardware")
        notes.append(f"machines differ: {mb.cpu_model or '?'} ({fb}) vs {mc.cpu_model or '?'} ({fc}); "
                     "each run's states are judged against its own fast level")
    vb, vc = base.manifest.versions, cand.manifest.versions
    diff = sorted(k for k in set(vb) | set(vc) if k not in IGNORED_VERSIONS and vb.get(k) != vc.get(k))
    if diff:
        shown = ", ".join(f"{k} {vb.get(k, '-')} -> {vc.get(k, '-')}" for k in diff[:4])
        more = f" (+{len(diff) - 4} more)" if len(diff) > 4 else ""
        if not allow_versions:
            raise ConfigError(f"library versions differ: {shown}{more}; pass --allow-versions to compare anyway")
        notes.append(f"library versions differ: {shown}{more}")
    cb, cc = base.manifest.config, cand.manifest.config
    changed = sorted(k for k in set(cb) | set(cc) if k not in IGNORED_CONFIG and cb.get(k) != cc.get(k))
    if changed:
        notes.append(f"configs differ in: {', '.join(changed)}")
    return notes


#: Config keys that never change what a cell measures.
IGNORED_CONFIG = ("run_id", "out_dir")


def _num(v: Any) -> float:
    try:
        return math.nan if is_missing(v) else float(v)
    except (TypeError, ValueError):
        return math.nan


def _key(row: Any, cols: list[str]) -> tuple[str, ...]:
    return tuple(text(row[c]) for c in cols)


def machine_kinds(run: Any) -> list[str]:
    """The kinds of machine (the `machine` tag; "" for the run's own machine) its timed cells ran on."""
    res = run.results
    if not len(res) or "machine" not in res:
        return [""]
    timed = res[res["status"].map(text).isin(["ok", "invalid"])]
    return sorted({text(t) for t in timed["machine"]}) or [""]


def _of_machine(df: Any, tag: str) -> Any:
    if df is None or not len(df):
        return df
    if "machine" not in df:
        return df if tag == "" else df.iloc[0:0]
    return df[df["machine"].map(text) == tag]


def _figures(base: Any, cand: Any, same_machine: bool) -> tuple[dict[tuple, Any], dict[tuple, Any]]:
    """Process figures of both runs per speed key, each kind of machine judged on its own: rounds are
    labelled against one fast level shared by both runs on one kind of machine (a state only one run
    saw then falls out of its figures), each run's own otherwise."""
    def probes(run: Any, tag: str) -> list[float]:
        r = _of_machine(getattr(run, "rounds", None), tag)
        return [] if r is None or not len(r) else [float(v) for v in r["probe_py_us"]]

    fb: dict[tuple, Any] = {}
    fc: dict[tuple, Any] = {}
    for tag in machine_kinds(base):
        if same_machine:
            lb = lc = fast_level(probes(base, tag) + probes(cand, tag))
        else:
            lb, lc = fast_level(probes(base, tag)), fast_level(probes(cand, tag))
        fb.update(process_figures(_of_machine(base.repeats, tag), _of_machine(base.rounds, tag), lb, SPEED_KEY))
        fc.update(process_figures(_of_machine(cand.repeats, tag), _of_machine(cand.rounds, tag), lc, SPEED_KEY))
    return fb, fc


def _speed_rows(base: Any, cand: Any, *, min_effect: float, alpha: float, same_machine: bool = True,
                design: SequentialDesign | None = None) -> list[dict[str, Any]]:
    b_rows = {_key(r, SPEED_KEY): r for _, r in base.results.iterrows()}
    c_rows = {_key(r, SPEED_KEY): r for _, r in cand.results.iterrows()}
    fb, fc = _figures(base, cand, same_machine)
    out = []
    timed = ("ok", "invalid")
    for key in sorted(set(b_rows) & set(c_rows)):
        rb, rc = b_rows[key], c_rows[key]
        sb, sc = text(rb["status"]), text(rc["status"])
        row: dict[str, Any] = dict(zip(SPEED_KEY, key), kind="speed", base_p50_ms=rb["p50_ms"],
                                   cand_p50_ms=rc["p50_ms"], note="",
                                   **{c: text(rc.get(c)) for c in OWN_COLUMNS})  # pytest-benchmark's own names
        if sb not in timed and sc not in timed:
            continue
        if sb in timed and sc not in timed:
            out.append(dict(row, verdict="REGRESSION", note=f"candidate {sc}: {text(rc['error'])}"))
            continue
        if sc in timed and sb not in timed:
            out.append(dict(row, verdict="IMPROVEMENT", note=f"baseline {sb}: {text(rb['error'])}"))
            continue
        pb = fb.get(key, {"figures": [], "processes": 0, "fast": 0})
        pc = fc.get(key, {"figures": [], "processes": 0, "fast": 0})
        invalid = {"base_invalid": text(rb["error"]) if sb == "invalid" else "",
                   "cand_invalid": text(rc["error"]) if sc == "invalid" else ""}
        if design is None:
            test = speed_test(pb["figures"], pc["figures"], min_effect=min_effect, alpha=alpha, **invalid)
        else:  # the look the processes measured so far have reached (bench/sequential.py)
            look = design.look_of(min(pb["processes"], pc["processes"]))
            test = sequential_test(pb["figures"], pc["figures"], min_effect=min_effect, design=design, look=look,
                                   **invalid)
        reason = test.reason
        if test.verdict == "INCONCLUSIVE" and (pb["fast"] < pb["processes"] or pc["fast"] < pc["processes"]):
            reason += (f"; processes with a fast-state round: baseline {pb['fast']}/{pb['processes']}, "
                       f"candidate {pc['fast']}/{pc['processes']}")
        out.append(dict(row, verdict=test.verdict, ratio=test.ratio, ci_low=test.ci_low, ci_high=test.ci_high,
                        p_value=test.p_value, mde=test.mde, n_base=test.n_base, n_cand=test.n_cand, note=reason,
                        more_per_side=test.more_per_side, looks=test.looks, level=test.level))
    return out


def _parity_rows(base: Any, cand: Any) -> list[dict[str, Any]]:
    if not len(base.parity) or not len(cand.parity):
        return []
    b_rows = {_key(r, PARITY_KEY): r for _, r in base.parity.iterrows()}
    c_rows = {_key(r, PARITY_KEY): r for _, r in cand.parity.iterrows()}
    rank = {"PASS": 0, "SKIP": 0, "FAIL": 1, "ERROR": 1}
    out = []
    for key in sorted(set(b_rows) & set(c_rows)):
        rb, rc = b_rows[key], c_rows[key]
        vb, vc = text(rb["verdict"]), text(rc["verdict"])
        if "SKIP" in (vb, vc):
            continue
        ab, ac = _num(rb["max_abs"]), _num(rc["max_abs"])
        verdict, notes = "SAME", []
        growth = max(ac, 1e-12) / max(ab, 1e-12) if ab == ab and ac == ac else math.nan  # fp64 rows: ~1e-14
        if rank.get(vc, 1) > rank.get(vb, 1):
            verdict = "REGRESSION"
            notes.append(f"verdict {vb} -> {vc}")
        elif rank.get(vc, 1) < rank.get(vb, 1):
            verdict = "IMPROVEMENT"
            notes.append(f"verdict {vb} -> {vc}")
        if growth == growth and growth > PARITY_GROWTH:
            verdict = "REGRESSION"
            notes.append(f"max abs grew {growth:.0f}x")
        elif growth == growth and growth < 1 / PARITY_GROWTH and verdict == "SAME":
            verdict = "IMPROVEMENT"
            notes.append(f"max abs shrank {1 / growth:.0f}x")
        row = dict(zip(PARITY_KEY, key), kind="parity", verdict=verdict, ratio=growth, base_parity=vb,
                   cand_parity=vc, base_max_abs=ab, cand_max_abs=ac, note="; ".join(notes))
        out.append(row)
    return out


def compare_loaded(base: Any, cand: Any, *, min_effect: float = 0.05, alpha: float = 0.01,
                   allow_hardware: bool = False, allow_versions: bool = False,
                   evidence: str = "two independent runs", design: SequentialDesign | None = None) -> Any:
    """`compare_runs` on two RunData objects (see tables.load_run). With a sequential `design`
    (twinbench gate), each cell is judged at the look its processes have reached, at that look's
    nominal level (its alpha is the design's)."""
    import pandas as pd

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha: must be in (0, 1), got {alpha}")
    if not (min_effect >= 0 and math.isfinite(min_effect)):  # an infinite effect would switch the gate off
        raise ConfigError(f"min_effect: must be a finite number >= 0, got {min_effect}")
    notes = check_comparable(base, cand, allow_hardware=allow_hardware, allow_versions=allow_versions)
    kb, kc = machine_kinds(base), machine_kinds(cand)
    if kb != kc:
        def shown(kinds: list[str]) -> str:
            return ", ".join(k or "its own machine" for k in kinds)

        raise ConfigError(f"the runs were measured on different kinds of machine (baseline: {shown(kb)}; candidate: "
                          f"{shown(kc)}): compare like with like, or see them side by side with `twinbench "
                          "hardware`")
    same_machine = base.manifest.machine.fingerprint == cand.manifest.machine.fingerprint
    if design is not None:
        alpha = design.alpha
    speed = _speed_rows(base, cand, min_effect=min_effect, alpha=alpha, same_machine=same_machine, design=design)
    load = load_compare_rows(base, cand, min_effect=min_effect)  # Server / Offline figures (reports/load_compare.py)
    if not speed and not load:
        raise RunDirError(f"no cells in common between {base.path} and {cand.path}")
    df = pd.DataFrame(speed + _parity_rows(base, cand) + load)
    for c in COMPARE_COLUMNS:
        if c not in df:
            df[c] = None
    df = df[COMPARE_COLUMNS]
    df["looks"] = df["looks"].astype("Float64").round().astype("Int64")  # whole looks, null for parity / load rows
    pytest_runs = is_pytest_run(base) and is_pytest_run(cand)
    if pytest_runs and evidence == "two independent runs":
        evidence = "two sets of pytest-benchmark sessions"
    df.attrs.update(base=base.run_id, candidate=cand.run_id, min_effect=min_effect, alpha=alpha, notes=notes,
                    evidence=evidence, figure=FIGURE["pytest-benchmark" if pytest_runs else "twinbench"],
                    sequential=design.to_dict() if design is not None else None)
    return df


def compare_runs(base_dir: str | Path, cand_dir: str | Path, *, min_effect: float = 0.05, alpha: float = 0.01,
                 allow_hardware: bool = False, allow_versions: bool = False,
                 evidence: str = "two independent runs", design: SequentialDesign | None = None) -> Any:
    """One row per cell (and per parity check) present in both runs, with a verdict each.

    Raises ConfigError when machines / versions differ (unless allowed) and RunDirError when a run
    directory is bad or the runs have no cell in common (the CLI exits 2 for both)."""
    base_dir, cand_dir = as_run_dir(base_dir), as_run_dir(cand_dir)  # pytest-benchmark files / folders too
    return compare_loaded(load_run(base_dir), load_run(cand_dir), min_effect=min_effect, alpha=alpha,
                          allow_hardware=allow_hardware, allow_versions=allow_versions, evidence=evidence,
                          design=design)


def has_regression(df: Any) -> bool:
    return bool(len(df)) and bool((df["verdict"] == "REGRESSION").any())


def _test_cells(r: Any) -> tuple[str, ...]:
    return ("-" if is_missing(r.ci_low) else f"{r.ci_low:.3f}-{r.ci_high:.3f}",
            "-" if is_missing(r.mde) else f"{r.mde:.1%}", fsci(r.p_value), text(r.n_base), text(r.n_cand))


def _pytest_markdown(df: Any, lines: list[str], speed: Any) -> str:
    """The speed and why tables of two pytest-benchmark runs, by the benchmarks' own group, name
    and params (no twin, runtime or shape of ours to show)."""
    rows = [(r.verdict, *own_label(r._asdict()), fnum(r.base_p50_ms), fnum(r.cand_p50_ms), fratio(r.ratio),
             *_test_cells(r)) for r in speed.itertuples()]
    lines += ["## Speed", "", md_table(["verdict", "group", "benchmark", "params", "base median ms",
                                        "cand median ms", "ratio", "CI", "MDE", "p", "sessions base",
                                        "sessions cand"], rows, "llllrrrrrrrr"), "", "## Why", ""]
    why = speed[speed["note"].map(text) != ""]
    lines.append(md_table(["verdict", "group", "benchmark", "params", "reason"],
                          [(r.verdict, *own_label(r._asdict()), text(r.note)) for r in why.itertuples()])
                 if len(why) else "None.")
    return "\n".join(lines) + "\n"


def _looks(r: Any) -> str:
    """A cell's looks, and why a sequential comparison stopped where it did not decide."""
    looks = "1" if is_missing(getattr(r, "looks", None)) else f"{int(r.looks)}"
    stop = text(getattr(r, "stop", ""))
    return f"{looks} ({stop})" if stop and stop != "decided" else looks


def _design_lines(design: Any) -> list[str]:
    """What a sequential comparison's verdicts rest on (nothing for a single test)."""
    if not design:
        return []
    looks = "/".join(str(n) for n in design["looks"])
    levels = ", ".join(f"{x:.2g}" for x in design["levels"])
    return [f"Sequential: looks at {looks} processes a side, measured until a verdict; alpha {design['alpha']:g} "
            f"spent over the looks ({design['spending']}: nominal levels {levels}), so looking again keeps the "
            "false-positive rate at most alpha. CI = the repeated confidence interval of the cell's last look; "
            "n = processes a side that gave a figure.", ""]


def compare_markdown(df: Any) -> str:
    """Summary line, what the verdicts rest on, the speed table (regressions first), the
    INCONCLUSIVE cells with their reasons, and the parity changes."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    speed = df[df["kind"] == "speed"].copy()
    counts = speed["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    lines = [f"# twinbench compare: {df.attrs.get('base', 'base')} -> {df.attrs.get('candidate', 'candidate')}",
             "", f"Speed: {summary} (min effect {df.attrs.get('min_effect', '?')}, alpha {df.attrs.get('alpha', '?')}).",
             "",
             f"Evidence: {df.attrs.get('evidence', 'two independent runs')}; "
             f"{df.attrs.get('figure', FIGURE['twinbench'])}, Welch t test on their logs; ratio = candidate / "
             "baseline.", ""]
    lines += _design_lines(df.attrs.get("sequential"))
    lines += [f"Note: {n}" for n in df.attrs.get("notes") or []]
    if df.attrs.get("notes"):
        lines.append("")
    speed["_o"] = speed["verdict"].map(order)
    speed = speed.sort_values(["_o", "ratio"], ascending=[True, False], kind="stable")
    if len(speed) and (speed["benchmark"].map(text) != "").all():
        return _pytest_markdown(df, lines, speed)
    rows = [(r.verdict, r.twin, r.artifact, r.runtime, r.device, text(r.batch), text(r.seq_len), text(r.threads),
             fnum(r.base_p50_ms), fnum(r.cand_p50_ms), fratio(r.ratio),
             "-" if is_missing(r.ci_low) else f"{r.ci_low:.3f}-{r.ci_high:.3f}",
             "-" if is_missing(r.mde) else f"{r.mde:.1%}", fsci(r.p_value), text(r.n_base), text(r.n_cand),
             _looks(r)) for r in speed.itertuples()]
    lines += ["## Speed", "", md_table(["verdict", "twin", "artifact", "runtime", "device", "batch", "seq_len",
                                        "threads", "base p50 ms", "cand p50 ms", "ratio", "CI", "MDE", "p",
                                        "n base", "n cand", "looks"], rows, "lllllrrrrrrrrrrrr"), ""]
    lines += ["## Why", ""]
    why = speed[speed["note"].map(text) != ""]
    if len(why):
        lines.append(md_table(["verdict", "twin", "artifact", "runtime", "batch", "seq_len", "reason"],
                              [(r.verdict, r.twin, r.artifact, r.runtime, text(r.batch), text(r.seq_len), text(r.note))
                               for r in why.itertuples()]))
    else:
        lines.append("None.")
    lines.append("")
    lines += load_compare_markdown(df)
    parity = df[(df["kind"] == "parity") & (df["verdict"] != "SAME")]
    lines += ["## Parity changes", ""]
    if len(parity):
        rows = [(r.verdict, r.twin, r.artifact, r.runtime, r.device, r.inputs, f"{r.base_parity} {fsci(r.base_max_abs)}",
                 f"{r.cand_parity} {fsci(r.cand_max_abs)}", text(r.note)) for r in parity.itertuples()]
        lines.append(md_table(["verdict", "twin", "artifact", "runtime", "device", "inputs", "baseline",
                               "candidate", "note"], rows))
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
