"""Fixtures of the report tests; the run-directory factory lives in reportlib.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportlib import make_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path)
