"""`twinbench run --resume RUN`: continue an interrupted run where it stopped.

A run leaves every finished piece on disk the moment it is done: a twin's build record once its
artifacts and goldens are written, a cell's row file once its worker ends. Resuming re-reads the
run's own config from its manifest, keeps every twin build that is complete and every cell whose
row exists for the same spec, and does the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

from twinbench.core.errors import ConfigError, RunDirError
from twinbench.core.layout import RunDir
from twinbench.core.liveness import driver_alive

#: Spec fields that may differ between the first attempt and the resume without changing the cell.
_LOCAL_FIELDS = ("run_dir",)


def open_for_resume(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """(RunConfig, manifest) of a run that can be resumed: not complete, its driver gone."""
    from twinbench.core.schema import SCHEMA_VERSION
    from twinbench.config import config_from_mapping

    run_dir = Path(run_dir)
    path = RunDir(run_dir).manifest
    if not path.is_file():
        raise RunDirError(f"--resume: {run_dir}: no manifest.json (not a run directory)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"--resume: {path}: unreadable ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        raise RunDirError(f"--resume: {path}: not a schema {SCHEMA_VERSION} manifest")
    if manifest.get("status") == "complete":
        raise ConfigError(f"--resume: {run_dir} is already complete")
    if manifest.get("status") == "running" and driver_alive(manifest.get("driver")) is not False:
        driver = manifest.get("driver") or {}
        raise ConfigError(f"--resume: {run_dir} is still running (pid {driver.get('pid')} on {driver.get('host')})")
    from twinbench.config import anchor_paths

    raw = anchor_paths(dict(manifest.get("config") or {}), manifest.get("cwd") or ".")  # command-line paths
    raw.update(run_id=run_dir.name, out_dir=str(run_dir.parent))
    return config_from_mapping(raw), manifest


def reopen(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Mark the run as running again under this process, keeping a record of each resume."""
    from twinbench.core.liveness import driver_record, now_iso
    from twinbench.core.manifest import update_manifest

    resumes = list(manifest.get("resumes") or [])
    resumes.append({"at": now_iso(), "status_before": manifest.get("status"), "driver_before": manifest.get("driver")})
    update_manifest(run_dir, manifest, status="running", driver=driver_record(), resumes=resumes, error=None)
    return manifest


def _same_spec(spec: Any, stored: Path) -> bool:
    try:
        old = json.loads(stored.read_text())
    except (OSError, ValueError):
        return False
    new = spec.to_dict()
    for key in _LOCAL_FIELDS:
        old.pop(key, None)
        new.pop(key, None)
    return json.loads(json.dumps(new, sort_keys=True, default=str)) == old


def done_rows(specs: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """Index in `specs` -> the row already on disk, for cells finished with the same spec."""
    from twinbench.bench.executors.local import read_row
    from twinbench.core.rows import from_json

    out = {}
    for i, spec in enumerate(specs):
        files = RunDir(spec.run_dir, spec.cells).cell(spec.cell_id)
        row = read_row(files.row) if files.row.is_file() else None
        if row is not None and _same_spec(spec, files.spec):
            out[i] = from_json(row, spec.key_row())
    return out


def run_remaining(specs: Sequence[Any], executor: Any, *, progress: Callable[[int, int, str], None] | None = None,
                  say: Callable[[str], None] = print) -> Any:
    """Like `run_cells`, but cells already finished keep their rows; returns every row in spec order."""
    import pandas as pd

    from twinbench.bench.runner import run_cells
    from twinbench.core.schema import RESULTS_COLUMNS

    specs = list(specs)
    kept = done_rows(specs)
    todo = [s for i, s in enumerate(specs) if i not in kept]
    if kept:
        say(f"resuming: {len(kept)} of {len(specs)} cells already measured, {len(todo)} to go")
    fresh = run_cells(todo, executor, progress=progress).to_dict("records") if todo else []
    if not todo and executor is not None:
        executor.close()
    it = iter(fresh)
    rows = [kept[i] if i in kept else next(it) for i in range(len(specs))]
    return pd.DataFrame(rows, columns=RESULTS_COLUMNS)


# twin builds ---------------------------------------------------------------------------------------

def build_record_path(run_dir: Path, twin: str) -> Path:
    return Path(run_dir) / "builds" / f"{twin}.json"


def save_build(run_dir: Path, twin: str, build: Any) -> None:
    """A twin's build, recorded once its artifacts and goldens are all written."""
    from twinbench.core.atomic import write_json

    write_json(build_record_path(run_dir, twin), {
        "artifacts": [a.to_dict() for a in build.artifacts], "failures": list(build.failures),
        "history": build.history.to_dict("records"), "params": build.params.to_dict("records")})


def load_build(run_dir: Path, twin: str) -> tuple[list[Any], list[dict[str, Any]], Any, Any] | None:
    """The recorded build of `twin` when it and every file it names are present, else None:
    (artifacts, failure rows, training history, params), the fields of pipeline.TwinBuild."""
    import pandas as pd

    from twinbench.exporters.artifact import Artifact

    layout = RunDir(run_dir)
    try:
        record = json.loads(build_record_path(run_dir, twin).read_text())
        artifacts = [Artifact.from_dict(a) for a in record["artifacts"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    needed = [layout.golden(twin), layout.parity_inputs(twin), *(Path(run_dir) / a.path for a in artifacts)]
    if not all(p.exists() for p in needed):
        return None
    return (artifacts, list(record.get("failures") or []), pd.DataFrame(record.get("history") or []),
            pd.DataFrame(record.get("params") or []))
