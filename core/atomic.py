"""Atomic writes: a file is either absent or complete, never half-written.

Every file a later stage or a report reads goes through these (write to a hidden temporary beside
the target, then rename), so a crash, a kill or a full disk never leaves a readable partial file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping


def _atomic(path: str | Path, write: Callable[[Path], None], suffix: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any, *, indent: int | None = None) -> Path:
    """JSON with sorted keys; NaN allowed (rows carry NaN for figures a cell could not measure)."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=True, default=str, allow_nan=True))


def save_npz(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    import numpy as np

    return _atomic(path, lambda tmp: np.savez(tmp, **dict(arrays)), suffix=".npz")


def save_npy(path: str | Path, array: Any) -> Path:
    import numpy as np

    return _atomic(path, lambda tmp: np.save(tmp, array), suffix=".npy")


def write_with(path: str | Path, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Any writer that takes a path (pandas `to_parquet`, `to_csv`), made atomic."""
    return _atomic(path, write, suffix)
