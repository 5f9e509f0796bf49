"""Run vs run: did the candidate get slower, faster, or less exact than the baseline?

A speed cell is a REGRESSION (IMPROVEMENT) only when both hold: the Mann-Whitney test on the
per-iteration samples is significant at `alpha`, and the median ratio cand/base is beyond
1 +- `min_effect` (a block-bootstrap interval of the ratio is reported alongside). The effect size
guard is what keeps an A/A comparison on a noisy machine quiet; significance alone is not enough,
because huge autocorrelated samples make tiny drifts "significant".

Parity rows are a REGRESSION when the verdict got worse (PASS -> FAIL/ERROR) or max abs error grew
more than `PARITY_GROWTH` times. A cell that ran in the baseline but failed in the candidate is a
REGRESSION too. Exit-code rule for the CLI: 1 if `has_regression(df)`, else 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from twinbench.bench.schema import KEY
from twinbench.errors import ConfigError, RunDirError
from twinbench.reports.format import fnum, fratio, fsci, is_missing, md_table, text
from twinbench.reports.significance import mann_whitney, median_ratio_ci, thin

#: Cell identity across runs (KEY without run_id).
CELL_KEY = [k for k in KEY if k != "run_id"]
PARITY_KEY = ["twin", "artifact", "exporter", "precision", "runtime", "device", "inputs"]
PARITY_GROWTH = 10.0
VERDICTS = ("REGRESSION", "IMPROVEMENT", "SAME", "UNTESTED")
COMPARE_COLUMNS = ["kind", *CELL_KEY, "inputs", "verdict", "ratio", "ci_low", "ci_high", "p_value",
                   "base_p50_ms", "cand_p50_ms", "n_base", "n_cand", "base_parity", "cand_parity",
                   "base_max_abs", "cand_max_abs", "note"]
#: Library versions that do not change what is measured (ignored by the version check).
IGNORED_VERSIONS = ("twinbench",)


def check_comparable(base: Any, cand: Any, *, allow_hardware: bool = False, allow_versions: bool = False) -> None:
    """ConfigError (one line) when machines or library versions differ and that was not allowed."""
    mb, mc = base.manifest.get("machine") or {}, cand.manifest.get("machine") or {}
    fb, fc = mb.get("fingerprint"), mc.get("fingerprint")
    if not allow_hardware and fb != fc:
        raise ConfigError(f"machines differ ({fb} {mb.get('cpu_model', '?')} vs {fc} {mc.get('cpu_model', '?')}); "
                          "use `twinbench hardware` or pass --allow-hardware")
    vb, vc = base.manifest.get("versions") or {}, cand.manifest.get("versions") or {}
    diff = sorted(k for k in set(vb) | set(vc) if k not in IGNORED_VERSIONS and vb.get(k) != vc.get(k))
    if not allow_versions and diff:
        shown = ", ".join(f"{k} {vb.get(k, '-')} -> {vc.get(k, '-')}" for k in diff[:4])
        more = f" (+{len(diff) - 4} more)" if len(diff) > 4 else ""
        raise ConfigError(f"library versions differ: {shown}{more}; pass --allow-versions to compare anyway")


def speed_verdict(ratio: float, p: float, *, min_effect: float, alpha: float) -> str:
    """Significant AND beyond the minimum effect; the bootstrap interval is reported, not used:
    it is wide on a shared machine whose load comes and goes, and would hide real slowdowns."""
    if any(math.isnan(v) for v in (ratio, p)):
        return "UNTESTED"
    if p < alpha and ratio > 1.0 + min_effect:
        return "REGRESSION"
    if p < alpha and ratio < 1.0 / (1.0 + min_effect):
        return "IMPROVEMENT"
    return "SAME"


def _num(v: Any) -> float:
    try:
        return math.nan if is_missing(v) else float(v)
    except (TypeError, ValueError):
        return math.nan


def _key(row: Any, cols: list[str]) -> tuple[str, ...]:
    return tuple(text(row[c]) for c in cols)


def _speed_rows(base: Any, cand: Any, *, min_effect: float, alpha: float) -> list[dict[str, Any]]:
    b_rows = {_key(r, CELL_KEY): r for _, r in base.results.iterrows()}
    c_rows = {_key(r, CELL_KEY): r for _, r in cand.results.iterrows()}
    out = []
    timed = ("ok", "invalid")
    for key in sorted(set(b_rows) & set(c_rows)):
        rb, rc = b_rows[key], c_rows[key]
        sb, sc = text(rb["status"]), text(rc["status"])
        row: dict[str, Any] = dict(zip(CELL_KEY, key), kind="speed", base_p50_ms=rb["p50_ms"],
                                   cand_p50_ms=rc["p50_ms"], note="")
        if sb not in timed and sc not in timed:
            continue
        if sb in timed and sc not in timed:
            out.append(dict(row, verdict="REGRESSION", note=f"candidate {sc}: {text(rc['error'])}"))
            continue
        if sc in timed and sb not in timed:
            out.append(dict(row, verdict="IMPROVEMENT", note=f"baseline {sb}: {text(rb['error'])}"))
            continue
        a, b = base.samples(rb), cand.samples(rc)
        if len(a) < 2 or len(b) < 2:
            pb, pc = _num(rb["p50_ms"]), _num(rc["p50_ms"])
            ratio = pc / pb if pb > 0 else math.nan
            out.append(dict(row, verdict="UNTESTED", ratio=ratio, n_base=len(a), n_cand=len(b),
                            note="no per-iteration samples: not tested"))
            continue
        ratio, lo, hi = median_ratio_ci(a, b, level=1.0 - alpha)
        _, p = mann_whitney(thin(a), thin(b))
        note = "; ".join(f"{side} invalid" for side, s in (("baseline", sb), ("candidate", sc)) if s == "invalid")
        out.append(dict(row, ratio=ratio, ci_low=lo, ci_high=hi, p_value=p, n_base=len(a), n_cand=len(b),
                        verdict=speed_verdict(ratio, p, min_effect=min_effect, alpha=alpha), note=note))
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
        growth = ac / max(ab, 1e-12) if ab == ab and ac == ac else math.nan
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
                   allow_hardware: bool = False, allow_versions: bool = False) -> Any:
    """`compare_runs` on two RunData objects (see tables.load_run)."""
    import pandas as pd

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha: must be in (0, 1), got {alpha}")
    if not min_effect >= 0:
        raise ConfigError(f"min_effect: must be >= 0, got {min_effect}")
    check_comparable(base, cand, allow_hardware=allow_hardware, allow_versions=allow_versions)
    speed = _speed_rows(base, cand, min_effect=min_effect, alpha=alpha)
    if not speed:
        raise RunDirError(f"no cells in common between {base.path} and {cand.path}")
    df = pd.DataFrame(speed + _parity_rows(base, cand))
    for c in COMPARE_COLUMNS:
        if c not in df:
            df[c] = None
    df = df[COMPARE_COLUMNS]
    df.attrs.update(base=base.run_id, candidate=cand.run_id, min_effect=min_effect, alpha=alpha)
    return df


def compare_runs(base_dir: str | Path, cand_dir: str | Path, *, min_effect: float = 0.05, alpha: float = 0.01,
                 allow_hardware: bool = False, allow_versions: bool = False) -> Any:
    """One row per cell (and per parity check) present in both runs, with a verdict each.

    Raises ConfigError when machines / versions differ (unless allowed) and RunDirError when a run
    directory is bad or the runs have no cell in common (the CLI exits 2 for both)."""
    from twinbench.reports.tables import load_run

    return compare_loaded(load_run(base_dir), load_run(cand_dir), min_effect=min_effect, alpha=alpha,
                          allow_hardware=allow_hardware, allow_versions=allow_versions)


def has_regression(df: Any) -> bool:
    return bool(len(df)) and bool((df["verdict"] == "REGRESSION").any())


def compare_markdown(df: Any) -> str:
    """Summary line, the speed table (regressions first) and the parity changes."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    counts = df["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    lines = [f"# twinbench compare: {df.attrs.get('base', 'base')} -> {df.attrs.get('candidate', 'candidate')}",
             "", f"{summary} (min effect {df.attrs.get('min_effect', '?')}, alpha {df.attrs.get('alpha', '?')}; "
             "ratio = candidate median / baseline median)", ""]
    speed = df[df["kind"] == "speed"].copy()
    speed["_o"] = speed["verdict"].map(order)
    speed = speed.sort_values(["_o", "ratio"], ascending=[True, False], kind="stable")
    rows = [(r.verdict, r.twin, r.artifact, r.runtime, r.device, text(r.batch), text(r.seq_len), text(r.threads),
             fnum(r.base_p50_ms), fnum(r.cand_p50_ms), fratio(r.ratio),
             "-" if is_missing(r.ci_low) else f"{r.ci_low:.3f}-{r.ci_high:.3f}",
             fsci(r.p_value), text(r.note)) for r in speed.itertuples()]
    lines += ["## Speed", "", md_table(["verdict", "twin", "artifact", "runtime", "device", "batch", "seq_len",
                                        "threads", "base p50 ms", "cand p50 ms", "ratio", "CI", "p", "note"],
                                       rows, "lllllrrrrrrrrl"), ""]
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
