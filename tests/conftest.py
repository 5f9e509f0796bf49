"""Shared test setup: quiet TensorFlow, skip `gpu` tests with a reason where no CUDA GPU exists."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Runs made by tests record into a throw-away history store, never the user's (reports/history.py).
os.environ.setdefault("TWINBENCH_HISTORY", os.path.join(__import__("tempfile").mkdtemp(prefix="tb-history-"),
                                                       "history.sqlite"))


def _cuda_reason() -> str | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return "no CUDA GPU here (nvidia-smi not found)"
    try:
        ok = subprocess.run([exe, "-L"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return None if ok else "no CUDA GPU here (nvidia-smi lists none)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    checked = False
    for item in items:
        if "gpu" in item.keywords:
            if not checked:
                reason, checked = _cuda_reason(), True
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
