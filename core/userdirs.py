"""Per-user places on this machine: the cache folder holding the internal-error log and the
benchmark lock. Never a shared /tmp file, which another user could own or read."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$TWINBENCH_CACHE`, else `$XDG_CACHE_HOME/twinbench`, else `~/.cache/twinbench` (created)."""
    explicit = os.environ.get("TWINBENCH_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "twinbench"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
