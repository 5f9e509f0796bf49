"""The one overall parity verdict, used by the CLI, the manifest and the reports alike."""

from __future__ import annotations

from typing import Any, Iterable

#: Worst first: a run's verdict is the worst of its rows, with ERROR counted as FAIL.
VERDICT_ORDER = ("FAIL", "ERROR", "PASS", "SKIP")


def worst(verdicts: Iterable[Any]) -> str:
    """The worst verdict present ("SKIP" when none)."""
    present = {str(v) for v in verdicts}
    return next((v for v in VERDICT_ORDER if v in present), "SKIP")


#: Rows that check the golden itself (bench/parity/reference_check.py), not an artifact on a runtime.
GOLDEN_CHECK_RUNTIME = "numpy-reference"


def overall_verdict(parity: Any) -> str:
    """FAIL when any row is FAIL or ERROR, PASS when some artifact x runtime row passed, else SKIP:
    a run in which no artifact could be checked must never read as a pass (the golden's own check
    can fail a run but cannot pass one)."""
    if parity is None or not len(parity):
        return "SKIP"
    v = worst(parity["verdict"])
    if v in ("FAIL", "ERROR"):
        return "FAIL"
    checked = parity[parity["runtime"].astype(str) != GOLDEN_CHECK_RUNTIME] if "runtime" in parity else parity
    return worst(checked["verdict"]) if len(checked) else "SKIP"
