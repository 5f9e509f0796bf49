"""Fixtures for exporter tests (helpers live in exporters_testlib.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporters_testlib import TWIN_NAMES, Built, built, request_for
from twinbench.exporters import EXPORTERS


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run")


_EXPORTED: dict[tuple[str, str], Any] = {}


@pytest.fixture(params=[(t, e) for t in TWIN_NAMES for e in EXPORTERS], ids=lambda p: f"{p[0]}-{p[1]}")
def exported(request: pytest.FixtureRequest, run_dir: Path) -> tuple[Built, Any]:
    """(Built, Artifact) for one twin x exporter; exported once per session."""
    key = request.param
    if key not in _EXPORTED:
        _EXPORTED[key] = EXPORTERS[key[1]](request_for(key[0], run_dir))
    return built(key[0]), _EXPORTED[key]
