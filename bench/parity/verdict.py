"""The one overall parity verdict, used by the CLI, the manifest and the reports alike."""

from __future__ import annotations

from typing import Any, Iterable

#: Worst first: a run's verdict is the worst of its rows, with ERROR counted as FAIL.
VERDICT_ORDER = ("FAIL", "ERROR", "PASS", "SKIP")


def worst(verdicts: Iterable[Any]) -> str:
    """The worst verdict present ("SKIP" when none)."""
    present = {str(v) for v in verdicts}
    return next((v for v in VERDICT_ORDER if v in present), "SKIP")


def overall_verdict(parity: Any) -> str:
    """FAIL when any row is FAIL or ERROR, PASS when some row passed, else SKIP: a run in which
    nothing could be checked must never read as a pass."""
    if parity is None or not len(parity):
        return "SKIP"
    v = worst(parity["verdict"])
    return "FAIL" if v == "ERROR" else v
