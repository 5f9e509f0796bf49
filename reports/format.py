"""Tiny formatting helpers shared by every report: numbers, and GitHub-flavoured Markdown tables."""

from __future__ import annotations

import math
from typing import Any, Sequence


def is_missing(v: Any) -> bool:
    """None, NaN, pandas NA/NaT: all shown as '-'."""
    if v is None:
        return True
    if isinstance(v, (str, bytes, list, tuple, dict)):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fnum(v: Any, digits: int = 3) -> str:
    """A float with `digits` significant digits; '-' for missing values."""
    if is_missing(v):
        return "-"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.{max(digits - 1, 0)}e}"
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"


def fsci(v: Any) -> str:
    """Scientific notation for small errors (max abs and friends)."""
    return "-" if is_missing(v) else f"{float(v):.2e}"


def fratio(v: Any) -> str:
    return "-" if is_missing(v) else f"{float(v):.2f}x"


def text(v: Any) -> str:
    """Cell text; integral floats print as integers (8.0 -> "8"), so keys match across dtypes."""
    if is_missing(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def escape_cell(v: Any) -> str:
    """One Markdown table cell: no newlines, '|' escaped, so every row keeps the header's pipe count."""
    s = text(v).replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace("|", "\\|")
    return s.strip()


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; `align` holds 'l' or 'r' per column (numbers right)."""
    if not headers:
        return ""
    align = list(align or ["l"] * len(headers))
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(escape_cell(h) for h in headers) + " |", "| " + " | ".join(sep) + " |"]
    for row in rows:
        cells = [escape_cell(c) for c in row]
        cells = (cells + [""] * len(headers))[: len(headers)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
