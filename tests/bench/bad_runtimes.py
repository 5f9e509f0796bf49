"""Deliberately broken runtimes for the worker tests, imported by path through a CellSpec's
`extra_modules`: one raises, one aborts, one segfaults, one hangs. Each must become a failed row."""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from twinbench.bench.runtimes import RUNTIMES, get_runtime, register_runtime


def _raise(artifact: Any, opts: Any) -> Any:
    raise ValueError("this runtime always fails to load\nand says why on a second line")


def _abort(artifact: Any, opts: Any) -> Any:
    os.abort()


def _segfault(artifact: Any, opts: Any) -> Any:
    ctypes.string_at(0)


def _hang(artifact: Any, opts: Any) -> Any:
    time.sleep(3600)


def _hog(artifact: Any, opts: Any) -> Any:
    """1.5 GB of private memory, touched: over a small worker cap, RLIMIT_DATA refuses it."""
    import numpy as np

    return np.ones(3 * 2**28 // 2, dtype=np.float64)


def _hog_shared(artifact: Any, opts: Any) -> Any:
    """1.5 GB of shared anonymous memory, touched page by page (not counted by RLIMIT_DATA):
    only the driver's watch of the worker's resident memory stops it."""
    import mmap

    size = 3 * 2**29
    area = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        area[offset] = 1
    time.sleep(60)


def _flaky(artifact: Any, opts: Any) -> Any:
    """ONNX Runtime, except while TB_FLAKY=fail is set (a full disk, a lost device): a transient failure."""
    if os.environ.get("TB_FLAKY") == "fail":
        raise OSError(28, "No space left on device (a test's transient failure)")
    return get_runtime("ort-cpu").load(artifact, opts)


BAD = {"test-flaky": _flaky, "test-raise": _raise, "test-abort": _abort, "test-segfault": _segfault, "test-hang": _hang,
       "test-hog": _hog, "test-hog-shared": _hog_shared}


def register_all() -> None:
    for name, load in BAD.items():
        if name not in RUNTIMES:
            register_runtime(name, accepts={"onnx"}, available=lambda: None, devices=lambda: ["cpu"],
                             doc="test only")(load)


register_all()
