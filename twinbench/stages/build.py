"""Build stage: the run's inputs saved, then per twin: train in both frameworks, save the natives,
export, derive variants, write the parity inputs, the goldens and the goldens' own reference check.

A twin's build is recorded (`builds/<twin>.json`) the moment all its files are written, so a
resumed run keeps it; a failed export or variant is a results row, not a stopped run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from twinbench.bench.parity.inputs import parity_inputs, save_goldens, save_parity_inputs
from twinbench.bench.parity.reference_check import save_references
from twinbench.bench.parity.user import attach_reference
from twinbench.config import RunConfig
from twinbench.core.atomic import write_json, write_with
from twinbench.core.errors import one_line
from twinbench.core.layout import RunDir
from twinbench.core.rows import export_failure_row
from twinbench.exporters import ExportFailure, ExportRequest, export_all
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.native import save_native
from twinbench.exporters.registry import VARIANTS
from twinbench.exporters.user_onnx import from_user_onnx
from twinbench.models.embeddings import save_matrix
from twinbench.models.params import param_table
from twinbench.models.train import train_twins
from twinbench.stages.prepare import Prepared, ResolvedTwin

Say = Callable[[str], None]


@dataclass(frozen=True)
class TwinBuild:
    """What building one twin leaves for the benchmark and the tables."""

    artifacts: list[Artifact]
    failures: list[dict[str, Any]]  # results rows of failed exports / variants
    history: Any  # training rows (DataFrame)
    params: Any  # params rows (DataFrame)


def save_inputs(run_dir: Path, prep: Prepared) -> None:
    """The data splits and pretrained matrices, into the run directory now that it exists."""
    layout = RunDir(run_dir)
    for task, splits in prep.data.items():
        layout.data(task).mkdir(parents=True, exist_ok=True)
        splits.vocab.save(layout.vocab(task))
        write_with(layout.splits(task), lambda tmp, s=splits: np.savez_compressed(
            tmp, x_train=s.x_train, y_train=s.y_train, x_val=s.x_val, y_val=s.y_val), ".npz")
    for task, matrix in prep.matrices.items():
        save_matrix(matrix, layout.embedding(task))


def build_twin(cfg: RunConfig, resolved: ResolvedTwin, splits: Any, run_dir: Path, run_id: str,
               say: Say) -> TwinBuild:
    """Train the twin in both frameworks, save natives, export, derive variants, write parity data."""
    twin = resolved.twin
    say(f"training {twin.name} in torch and keras")
    result = train_twins(twin, splits, cfg.training, progress=say)  # a line per epoch
    history = result.history.copy()
    history.insert(0, "run_id", run_id)

    layout = RunDir(run_dir)
    out_dir = layout.twin(twin.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = list(save_native(twin, result.torch_model, result.keras_model, out_dir, run_dir))
    failures: list[dict[str, Any]] = []
    say(f"exporting {twin.name}: {', '.join(cfg.exporters)}")
    req = ExportRequest(twin=twin, torch_model=result.torch_model, keras_model=result.keras_model,
                        out_dir=out_dir, run_dir=run_dir, opset=cfg.opset, example_seq=int(splits.x_train.shape[1]))
    onnx_artifacts = []
    for item in export_all(req, list(cfg.exporters)):
        if isinstance(item, ExportFailure):
            failures.append(export_failure_row(run_id, twin.name, item.name, item.error))
        else:
            onnx_artifacts.append(item)
    for base in list(onnx_artifacts):
        for variant in cfg.variants:
            try:
                onnx_artifacts.append(VARIANTS[variant](base, run_dir))
            except Exception as exc:  # one failed variant is a row, not a crashed run
                failures.append(export_failure_row(run_id, twin.name, f"{base.name}-{variant}", one_line(exc)))
    artifacts.extend(onnx_artifacts)

    batches = parity_inputs(splits.x_val, len(splits.vocab), twin)
    save_parity_inputs(layout.parity_inputs(twin.name), batches)
    save_goldens(twin, result.torch_model, result.keras_model, batches, layout)  # golden.npz + golden.keras.npz
    save_references(twin, result.torch_model, result.keras_model, batches, layout)  # the goldens' own check
    params = param_table(twin)
    params.insert(0, "twin", twin.name)
    params.insert(0, "run_id", run_id)
    return TwinBuild(artifacts, failures, history, params)


def user_onnx_names(paths: Sequence[str]) -> list[str]:
    """An artifact name per user ONNX file: its stem, with a short hash of its path where two files
    share a stem (`a/model.onnx`, `b/model.onnx`), so neither overwrites the other's artifact."""
    stems = [Path(p).stem for p in paths]
    return [stem if stems.count(stem) == 1 else
            f"{stem}-{hashlib.sha256(str(Path(p).resolve()).encode()).hexdigest()[:8]}"
            for p, stem in zip(paths, stems)]


def user_onnx_artifacts(cfg: RunConfig, run_dir: Path, seq_len: int = 16) -> list[Artifact]:
    """The user's ONNX files, each with its input roles and its reference (bench/parity/user.py):
    parity inputs and a golden written beside it, unless parity is off."""
    out = []
    for path, name in zip(cfg.onnx, user_onnx_names(cfg.onnx)):
        art = from_user_onnx(path, run_dir, name=name, declared_inputs=cfg.onnx_inputs)
        if cfg.parity:
            art = attach_reference(art, run_dir, cfg.onnx_reference, seq_len=seq_len,
                                   runtime_settings=cfg.runtime_settings)
        out.append(art)
    return out


# build records (resume) -------------------------------------------------------------------------------

def save_build(run_dir: Path, twin: str, build: TwinBuild) -> None:
    """A twin's build, recorded once its artifacts and goldens are all written."""
    write_json(RunDir(run_dir).build_record(twin), {
        "artifacts": [a.to_dict() for a in build.artifacts], "failures": list(build.failures),
        "history": build.history.to_dict("records"), "params": build.params.to_dict("records")})


def load_build(run_dir: Path, twin: str) -> TwinBuild | None:
    """The recorded build of `twin` when it and every file it names are present, else None."""
    import pandas as pd

    layout = RunDir(run_dir)
    try:
        record = json.loads(layout.build_record(twin).read_text())
        artifacts = [Artifact.from_dict(a) for a in record["artifacts"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    needed = [layout.golden(twin), layout.parity_inputs(twin), *(Path(run_dir) / a.path for a in artifacts)]
    if not all(p.exists() for p in needed):
        return None
    return TwinBuild(artifacts, list(record.get("failures") or []), pd.DataFrame(record.get("history") or []),
                     pd.DataFrame(record.get("params") or []))


def build_all(prep: Prepared, run_dir: Path, *, resume: bool, say: Say) -> tuple[list[Artifact], list[TwinBuild]]:
    """Every twin built (or its complete recorded build kept when resuming), then the user's ONNX
    files; returns the artifacts and the builds."""
    artifacts: list[Artifact] = []
    builds: list[TwinBuild] = []
    for resolved in prep.twins:
        built = load_build(run_dir, resolved.twin.name) if resume else None
        if built is None:
            built = build_twin(prep.cfg, resolved, prep.data[resolved.task], run_dir, prep.run_id, say)
            save_build(run_dir, resolved.twin.name, built)
        else:
            say(f"{resolved.twin.name}: artifacts and goldens complete, not rebuilt")
        artifacts += built.artifacts
        builds.append(built)
    return artifacts + user_onnx_artifacts(prep.cfg, run_dir, prep.seq_lens[0]), builds
