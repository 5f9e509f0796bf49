"""Peak memory figures for a results row: host RSS of the worker and device bytes when known."""

from __future__ import annotations

import math
import resource
import sys
from typing import Any, Mapping


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB.

    Linux: VmHWM from /proc/self/status, because getrusage's ru_maxrss survives fork + exec and
    would report the (larger) parent's peak for a small worker. Elsewhere ru_maxrss (KiB on
    Linux/BSD, bytes on macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def gpu_peak_mb(info: Mapping[str, Any]) -> float:
    """Device peak from the session's own report (torch.cuda / TF memory info), else NaN."""
    value = info.get("gpu_peak_bytes")
    return float(value) / (1024 * 1024) if isinstance(value, (int, float)) else math.nan
