"""Deliberately broken runtimes for the worker tests, imported by path through a CellSpec's
`extra_modules`: one raises, one aborts, one segfaults, one hangs. Each must become a failed row."""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from twinbench.bench.runtimes import RUNTIMES, register_runtime


def _raise(artifact: Any, opts: Any) -> Any:
    raise ValueError("this runtime always fails to load\nand says why on a second line")


def _abort(artifact: Any, opts: Any) -> Any:
    os.abort()


def _segfault(artifact: Any, opts: Any) -> Any:
    ctypes.string_at(0)


def _hang(artifact: Any, opts: Any) -> Any:
    time.sleep(3600)


BAD = {"test-raise": _raise, "test-abort": _abort, "test-segfault": _segfault, "test-hang": _hang}


def register_all() -> None:
    for name, load in BAD.items():
        if name not in RUNTIMES:
            register_runtime(name, accepts={"onnx"}, available=lambda: None, devices=lambda: ["cpu"],
                             doc="test only")(load)


register_all()
