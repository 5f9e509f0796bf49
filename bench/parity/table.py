"""Parity tables over a run directory: every cell's outputs against the twin's golden.

`parity_table` gives one row per (twin, artifact, runtime, device) x named input batch, with the
profile chosen from what the cell reports it computed in. Cells that failed become ERROR rows,
runtimes that were skipped SKIP rows. The goldens themselves are judged first, against the NumPy
reference (`reference_check`: runtime "numpy-reference", profile fp64); every row judged against a
golden that failed that check says so in its `error`. `parity_cross_table` is a separate,
informational table of differences *between* outputs (torch vs keras, exporter vs exporter on one
runtime): it never changes the verdict, because every output is already judged against the golden.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from twinbench.bench.parity.compare import compare, worst_batch
from twinbench.bench.parity.inputs import load_batches
from twinbench.bench.parity.profiles import PROFILES, Profile, explain_profile
from twinbench.bench.parity.reference_check import add_note, golden_notes, reference_rows
from twinbench.core.rows import parity_row
from twinbench.core.schema import PARITY_COLUMNS
from twinbench.core.errors import RunDirError
from twinbench.core.layout import RunDir
from twinbench.core.manifest import read_manifest
from twinbench.bench.feeds import unpack
from twinbench.bench.parity.graphs import localize_user
from twinbench.bench.parity.localize import first_divergent_layer, onnx_intermediates, output_runner
from twinbench.bench.parity.user import feeds_of, reference_label, reference_problem
from twinbench.bench.parity.steps import locate_steps
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.native import load_keras, load_torch
from twinbench.models.registry import get_twin

log = logging.getLogger(__name__)

CROSS_COLUMNS = ["run_id", "twin", "kind", "a", "b", "device", "precision", "profile", "inputs", "n",
                 "max_abs", "max_rel", "mean_abs", "rmse", "cosine", "argmax_agree", "worst_index",
                 "atol", "rtol", "verdict", "error"]
#: Native Keras runtimes in order of preference for the "torch vs keras" cross row.
KERAS_RUNTIMES = ("tf-function", "keras-eager", "keras-predict")
#: One group per artifact x runtime x device x kind of machine: a run on several kinds of machine
#: (the ray executor's `machines`) judges each kind's outputs.
GROUP = ("twin", "artifact", "runtime", "device", "machine")


@dataclass
class CellGroup:
    """All cells of one artifact x runtime x device; `outputs` from the first cell that wrote some."""

    key: tuple[str, ...]  # GROUP values
    rows: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, np.ndarray] | None = None
    outputs_row: dict[str, Any] | None = None
    batch_errors: dict[str, str] = field(default_factory=dict)
    parity_expected: bool = False   # some cell's spec asked for parity outputs (or no spec says)
    parity_asked: bool = False      # ... and a spec said so explicitly


def _expects_parity(spec: Path) -> bool | None:
    """Whether a worker cell's spec asked for parity outputs (the harness calibration cell and
    timing-only cells do not); None without a readable spec."""
    if not spec.is_file():
        return None
    try:
        return bool(json.loads(spec.read_text()).get("parity_inputs"))
    except (OSError, ValueError, AttributeError):
        return None


def _batch_errors(path: Path) -> dict[str, str]:
    """Per-batch errors the worker wrote beside the outputs (`{"errors": {batch: error}}`)."""
    try:
        errors = json.loads(path.read_text()).get("errors") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}


def read_cells(layout: RunDir) -> list[CellGroup]:
    """Group cell rows; an unreadable cell JSON becomes a failed row so it is seen, not dropped."""
    groups: dict[tuple[str, ...], CellGroup] = {}
    for path in layout.cell_rows():
        files = layout.cell(path.stem)
        try:
            row = json.loads(path.read_text())
            if not isinstance(row, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as exc:
            row = {"twin": "?", "artifact": path.stem, "runtime": "?", "device": "?", "status": "failed",
                   "error": f"{path.name}: unreadable ({exc})"}
        row.setdefault("cell_id", path.stem)
        key = tuple(str(row.get(k) or "") for k in GROUP)
        group = groups.setdefault(key, CellGroup(key))  # type: ignore[arg-type]
        group.rows.append(row)
        asked = _expects_parity(files.spec)
        group.parity_expected |= asked is not False
        group.parity_asked |= asked is True
        out = files.outputs
        if group.outputs is None and out.is_file():
            try:
                group.outputs = load_batches(out)
            except RunDirError as exc:
                row = dict(row, status="failed", error=str(exc))
                group.rows[-1] = row
                continue
            group.outputs_row = row
            group.batch_errors = _batch_errors(files.outputs_errors)
    return list(groups.values())


def _settings(row: dict[str, Any]) -> dict[str, Any]:
    s = row.get("runtime_settings") or {}
    if isinstance(s, str):
        try:
            s = json.loads(s)
        except json.JSONDecodeError:
            s = {}
    return s if isinstance(s, dict) else {}


def _base_row(row: dict[str, Any], run_id: str) -> dict[str, Any]:
    return parity_row(row, run_id)


def _run_id(run_dir: Path) -> str:
    try:
        return read_manifest(run_dir, require_complete=False).run_id
    except RunDirError:
        return run_dir.name


class _Goldens:
    """Loads each twin's golden.npz / parity_inputs.npz once."""

    def __init__(self, run_dir: Path, twin_modules: tuple[str, ...] = ()) -> None:
        self.layout = RunDir(run_dir)
        self.twin_modules = twin_modules
        self._cache: dict[Path, dict[str, np.ndarray]] = {}

    def _load(self, path: Path) -> dict[str, np.ndarray]:
        if path not in self._cache:
            self._cache[path] = load_batches(path)
        return self._cache[path]

    def inputs(self, twin: str) -> dict[str, np.ndarray]:
        return self._load(self.layout.parity_inputs(twin))

    def golden(self, twin: str, source: str) -> tuple[dict[str, np.ndarray], str]:
        """The golden of the artifact's own weights: Keras-sourced artifacts use golden.keras.npz
        when the run has one (older runs: golden.npz). Returns (golden, file name)."""
        keras = self.layout.golden(twin, "keras")
        path = keras if source == "keras" and keras.is_file() else self.layout.golden(twin)
        return self._load(path), path.name


def parity_table(run_dir: str | Path, *, cells: str = "cells", localize_failures: bool = True,
                 twin_modules: Sequence[str] = ()) -> Any:
    """One row per artifact x runtime x device x named batch, columns schema.PARITY_COLUMNS.
    `cells` names the cells folder to judge ("parity_only" for a parity re-check). `twin_modules`:
    the user twin modules this invocation was given (localisation rebuilds models through them;
    nothing named inside the run directory is imported)."""
    import pandas as pd

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory")
    run_id = _run_id(run_dir)
    goldens = _Goldens(run_dir, tuple(twin_modules))
    rows: list[dict[str, Any]] = reference_rows(run_dir, run_id)
    notes = golden_notes(rows)
    for group in read_cells(RunDir(run_dir, cells)):
        rows.extend(_group_rows(group, goldens, run_dir, run_id, localize_failures, notes))
    return pd.DataFrame(rows, columns=PARITY_COLUMNS)


def _group_rows(group: CellGroup, goldens: _Goldens, run_dir: Path, run_id: str,
                localize_failures: bool, notes: dict[tuple[str, str], str] | None = None) -> list[dict[str, Any]]:
    if group.outputs is None and not group.parity_asked:
        unjudged = _unjudged_user_file(group, run_dir, run_id)
        if unjudged:
            return unjudged
    if group.outputs is None:
        if not group.parity_expected:
            return []  # e.g. the calibration cell: nothing to compare, its failure is not parity's
        failed = [r for r in group.rows if r.get("status") == "failed"]
        skipped = [r for r in group.rows if r.get("status") == "skipped"]
        if failed:
            row = _base_row(failed[0], run_id)
            row.update(verdict="ERROR", inputs="", error=str(failed[0].get("error") or "cell failed"))
            return [row]
        if skipped and len(skipped) == len(group.rows):
            row = _base_row(skipped[0], run_id)
            row.update(verdict="SKIP", inputs="", error=str(skipped[0].get("error") or "skipped"))
            return [row]
        if group.parity_asked and not skipped:
            row = _base_row(group.rows[0], run_id)
            row.update(verdict="ERROR", inputs="", error="the cell ran but wrote no parity outputs")
            return [row]
        return []  # ok cells without outputs: not a parity cell (e.g. calibration)
    cell = group.outputs_row or group.rows[0]
    base = _base_row(cell, run_id)
    name, reason = explain_profile(str(cell.get("precision") or "fp32"), str(cell.get("runtime", "")),
                                   str(cell.get("device", "cpu")), _settings(cell))
    base["profile"], base["profile_reason"] = name, reason + _read_from_file(run_dir, cell)
    source = str(cell.get("source") or "")
    if not source:
        art = find_artifact(run_dir, str(cell.get("twin")), str(cell.get("artifact")))
        source = art.source if art is not None else "torch"
    if source == "user":
        return _user_rows(group, cell, base, run_dir, localize_failures)
    try:
        golden, golden_file = goldens.golden(str(cell.get("twin")), source)
    except RunDirError as exc:
        return [dict(base, verdict="ERROR", inputs="", error=str(exc))]
    if golden_file != "golden.npz":
        base["profile_reason"] = f"{reason}; vs {golden_file} (the Keras weights)"
    results = _judged(golden, group, name)
    layer, steps = "", ""
    worst = worst_batch(results)
    if worst is not None and localize_failures:
        layer, steps = _localize_cell(cell, goldens, run_dir, worst, PROFILES[name],
                                      golden.get(worst), group.outputs.get(worst))
    note = (notes or {}).get((str(cell.get("twin")), golden_file), "")
    rows = _rows_of(base, results, layer)
    for row in rows:
        if row["inputs"] == worst and steps:
            row["error"] = add_note(row["error"], steps)
        if note:
            row["error"] = add_note(row["error"], note)
    return rows


def _judged(golden: dict[str, np.ndarray], group: CellGroup, profile: str) -> dict[str, dict[str, Any]]:
    """`compare` of every golden batch with the group's output (a missing output is a FAIL naming
    the worker's error for that batch)."""
    results = {}
    for batch, g in golden.items():
        if group.outputs is not None and batch in group.outputs:
            results[batch] = compare(g, group.outputs[batch], profile)
        else:
            res = compare(g, np.empty((0,)), profile)
            why = group.batch_errors.get(batch)
            res["error"] = f"no output for batch {batch!r}" + (f": {why}" if why else "")
            results[batch] = res
    return results


def _rows_of(base: dict[str, Any], results: dict[str, dict[str, Any]], layer: str) -> list[dict[str, Any]]:
    rows = []
    for batch, res in results.items():
        row = dict(base)
        row.update({k: res[k] for k in ("n", "max_abs", "max_rel", "mean_abs", "rmse", "cosine", "argmax_agree",
                                         "worst_index", "atol", "rtol", "verdict", "error")})
        row["inputs"] = batch
        row["first_divergent_layer"] = layer if res["verdict"] != "PASS" else ""
        rows.append(row)
    return rows


def _read_from_file(run_dir: Path, cell: dict[str, Any]) -> str:
    """For a file whose precision was read from its graph (a user's file, a judged copy): what was read."""
    if str(cell.get("precision") or "fp32") == "fp32" or str(cell.get("exporter")) != "user":
        return ""
    art = find_artifact(run_dir, str(cell.get("twin")), str(cell.get("artifact")))
    why = art.meta.get("precision_reason") if art is not None else None
    return f" (read from the file: {why})" if why else ""


def _unjudged_user_file(group: CellGroup, run_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """The one row saying why a user's file that ran has no parity check (no reference runtime
    here: SKIP; a reference that failed: ERROR), so the reason is seen rather than silent."""
    first = group.rows[0]
    if str(first.get("source")) != "user" or not any(r.get("status") in ("ok", "invalid") for r in group.rows):
        return []
    art = find_artifact(run_dir, str(first.get("twin")), str(first.get("artifact")))
    problem = reference_problem(art.meta) if art is not None else None
    if problem is None:
        return []
    return [dict(_base_row(first, run_id), verdict=problem[0], inputs="", error=problem[1])]


def _backend(runtime: str, settings: dict[str, Any]) -> tuple[str, Any]:
    """The graph backend localisation reproduces a runtime with, and its precision."""
    if runtime in ("openvino", "ort-openvino"):
        return "openvino", settings.get("inference_precision")
    return "ort", None


def _user_rows(group: CellGroup, cell: dict[str, Any], base: dict[str, Any], run_dir: Path,
               localize_failures: bool) -> list[dict[str, Any]]:
    """A user's ONNX file against its own reference (bench/parity/user.py): SKIP without one, and
    on the reference runtime itself (agreement with itself proves nothing)."""
    twin, runtime = str(cell.get("twin")), str(cell.get("runtime", ""))
    art = find_artifact(run_dir, twin, str(cell.get("artifact")))
    meta = art.meta if art is not None else {}
    problem = reference_problem(meta)
    if problem:
        return [dict(base, verdict=problem[0], inputs="", error=problem[1])]
    golden_rel = str(meta["golden"])
    ref = meta.get("reference") or {}
    if ref.get("kind") == "runtime" and ref.get("runtime") == runtime:
        return [dict(base, verdict="SKIP", inputs="", error=f"{runtime} is the reference runtime of this file: "
                                                            f"the other runtimes are judged against it")]
    try:
        golden = load_batches(run_dir / golden_rel)
    except RunDirError as exc:
        return [dict(base, verdict="ERROR", inputs="", error=str(exc))]
    base["profile_reason"] = f"{base['profile_reason']}; {reference_label(meta)}".strip("; ")
    results = _judged(golden, group, base["profile"])
    layer = ""
    worst = worst_batch(results)
    if worst is not None and localize_failures and art is not None:
        layer = _localize_user(art, run_dir, runtime, _settings(cell), worst, PROFILES[base["profile"]])
    return _rows_of(base, results, layer)


def _localize_user(art: Artifact, run_dir: Path, runtime: str, settings: dict[str, Any], batch: str,
                   profile: Profile) -> str:
    """The first diverging node of a failing user file (bench/parity/graphs.py), best effort."""
    import onnx

    ref = art.meta.get("reference") or {}
    backend, precision = _backend(runtime, settings)
    try:
        stored = unpack(load_batches(run_dir / str(art.meta["parity_inputs"])))
        feeds = feeds_of(art, stored[batch])
        reference = onnx.load(str(run_dir / ref["path"])) if ref.get("kind") == "onnx" and ref.get("path") else None
        if reference is None and ref.get("kind") != "runtime":
            return ""  # a golden .npz has no graph to compare with
        ref_backend = _backend(str(ref.get("runtime", "")), {})[0]
        return localize_user(onnx.load(str(art.abspath(run_dir))), feeds, profile, backend=backend,
                             inference_precision=precision, reference=reference, reference_backend=ref_backend)
    except Exception as exc:  # best effort: a localisation problem must never cost the table
        log.warning("localize %s/%s on %s failed: %s", art.twin, art.name, runtime, exc)
        return ""


def find_artifact(run_dir: Path, twin: str, name: str) -> Any:
    """The Artifact named `name` of `twin`, from its sidecar (None when absent)."""
    for side in sorted(RunDir(run_dir).twin(twin).glob("*.json")):
        try:
            art = Artifact.read_sidecar(side)
        except (OSError, ValueError, TypeError):
            continue
        if art.name == name:
            return art
    return None


def load_golden_model(run_dir: Path, twin: str, source: str = "torch", twin_modules: Sequence[str] = ()) -> Any:
    """The twin's torch module with the weights the golden was made from: the torch weights, or
    for Keras-sourced artifacts the Keras weights moved into torch (as `keras_golden_outputs`)."""
    if source == "keras" and RunDir(run_dir).golden(twin, "keras").is_file():
        art = find_artifact(run_dir, twin, "keras")
        if art is None:
            raise RunDirError(f"{run_dir}/artifacts/{twin}: no keras artifact to localize against")
        spec = get_twin(art.twin, **art.twin_config)
        model = spec.build_torch(spec.config)
        spec.keras_to_torch(load_keras(art, run_dir, twin_modules=twin_modules), model)
        return model.eval()
    art = find_artifact(run_dir, twin, "torch")
    if art is None:
        raise RunDirError(f"{run_dir}/artifacts/{twin}: no torch artifact to localize against")
    return load_torch(art, run_dir, twin_modules=twin_modules)


def _localize_cell(cell: dict[str, Any], goldens: _Goldens, run_dir: Path, batch: str, profile: Profile,
                   golden: np.ndarray | None = None, actual: np.ndarray | None = None) -> tuple[str, str]:
    """(first divergent torch module, where in the sequence) of a failing ONNX cell on `batch`;
    ("", "") when not applicable. The graph's intermediates are computed once for both."""
    import onnx

    twin, artifact = str(cell.get("twin")), str(cell.get("artifact"))
    art = find_artifact(run_dir, twin, artifact)
    if art is None or art.kind != "onnx":
        return "", ""
    runtime = str(cell.get("runtime", ""))
    settings = _settings(cell)
    backend, precision = "ort", None
    if runtime in ("openvino", "ort-openvino"):
        backend = "openvino"
        precision = settings.get("inference_precision")
    try:
        tokens = goldens.inputs(twin)[batch]
        model = load_golden_model(run_dir, twin, art.source, goldens.twin_modules)
        graph = onnx.load(str(art.abspath(run_dir)))
        values = onnx_intermediates(graph, tokens, backend=backend, inference_precision=precision)
        layer, err = first_divergent_layer(model, values, tokens, profile)
    except Exception as exc:  # best effort: a localisation problem must never cost the table

        log.warning("localize %s/%s on %s failed: %s", twin, artifact, runtime, exc)
        return "", ""
    if not layer:
        layer = "(none in graph: runtime-specific)" if not math.isnan(err) else ""
    try:
        spec = get_twin(art.twin, **art.twin_config)
        runner = functools.cache(lambda: output_runner(graph, backend=backend, inference_precision=precision))
        steps = locate_steps(spec, model.state_dict(), tokens, profile, graph=graph, values=values,
                             run=lambda x: runner()(x),
                             golden=golden, actual=actual, where=f" on {backend}")
    except Exception as exc:  # same: the step is extra information
        log.warning("step localisation %s/%s on %s failed: %s", twin, artifact, runtime, exc)
        steps = ""
    return layer, steps


def _combined(a: str, b: str) -> Profile:
    """The bound two outputs can differ by when each is within its own profile of the golden
    (triangle inequality): tolerances add, cosine and argmax floors take the looser one."""
    pa, pb = PROFILES[a], PROFILES[b]
    if a == b == "fp32":
        name = "fp32"
    else:
        name = a if pa.atol >= pb.atol else b
    return Profile(f"cross-{name}", atol=pa.atol + pb.atol, rtol=pa.rtol + pb.rtol,
                   rel_floor=max(pa.rel_floor, pb.rel_floor),
                   min_cosine=max(0.0, 2 * min(pa.min_cosine, pb.min_cosine) ** 2 - 1),  # cos(2θ)
                   min_argmax_agree=min(pa.min_argmax_agree, pb.min_argmax_agree))


def _pairs(groups: list[CellGroup]) -> list[tuple[str, CellGroup, CellGroup]]:
    """(kind, a, b): torch vs keras natives per device; ONNX exporters of the same weights and
    precision pairwise per runtime/device."""
    with_out = [g for g in groups if g.outputs is not None and g.outputs_row is not None]
    pairs: list[tuple[str, CellGroup, CellGroup]] = []
    by_twin_dev: dict[tuple[str, str], list[CellGroup]] = {}
    for g in with_out:
        by_twin_dev.setdefault((g.key[0], g.key[3], g.key[4]), []).append(g)
    for members in by_twin_dev.values():
        torch_native = [g for g in members if g.key[1] == "torch" and g.key[2] == "torch"]
        keras_native = sorted((g for g in members if g.key[1] == "keras" and g.key[2] in KERAS_RUNTIMES),
                              key=lambda g: KERAS_RUNTIMES.index(g.key[2]))
        if torch_native and keras_native:
            pairs.append(("torch-vs-keras", torch_native[0], keras_native[0]))
        onnx_by_rt: dict[tuple[str, str], list[CellGroup]] = {}
        for g in members:
            row = g.outputs_row or {}
            if str(row.get("exporter", "native")) not in ("native", ""):
                # same weights only: tf2onnx (Keras weights) vs torch exporters is torch-vs-keras again
                key = (g.key[2], str(row.get("precision") or "fp32"), str(row.get("source") or ""))
                onnx_by_rt.setdefault(key, []).append(g)
        for same in onnx_by_rt.values():
            for a, b in combinations(sorted(same, key=lambda g: g.key[1]), 2):
                pairs.append(("exporter-vs-exporter", a, b))
    return pairs


def parity_cross_table(run_dir: str | Path, *, cells: str = "cells") -> Any:
    """Differences between outputs (informational; columns CROSS_COLUMNS), per named batch."""
    import pandas as pd

    run_dir = Path(run_dir)
    run_id = _run_id(run_dir)
    groups = read_cells(RunDir(run_dir, cells))
    rows = _weights_rows(run_dir, run_id)
    for kind, a, b in _pairs(groups):
        ra, rb = a.outputs_row or {}, b.outputs_row or {}
        pa = explain_profile(str(ra.get("precision") or "fp32"), a.key[2], a.key[3], _settings(ra))[0]
        pb = explain_profile(str(rb.get("precision") or "fp32"), b.key[2], b.key[3], _settings(rb))[0]
        prof = _combined(pa, pb)
        for batch in sorted(set(a.outputs or {}) & set(b.outputs or {})):
            res = compare(b.outputs[batch], a.outputs[batch], prof)  # type: ignore[index]
            row = {c: res.get(c) for c in CROSS_COLUMNS if c in res}
            row.update(run_id=ra.get("run_id") or run_id, twin=a.key[0], kind=kind, device=a.key[3],
                       a=f"{a.key[1]}@{a.key[2]}", b=f"{b.key[1]}@{b.key[2]}", inputs=batch,
                       precision=ra.get("precision") or "fp32", profile=prof.name)
            rows.append(row)
    return pd.DataFrame(rows, columns=CROSS_COLUMNS)


def _weights_rows(run_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """kind "weights": golden.npz vs golden.keras.npz, both float64 on CPU: how far the two
    frameworks' *trained weights* are apart, with no runtime or export in between."""
    rows = []
    layout = RunDir(run_dir)
    for twin_dir in layout.twin_dirs():
        gt, gk = layout.golden(twin_dir.name, "torch"), layout.golden(twin_dir.name, "keras")
        if not (gt.is_file() and gk.is_file()):
            continue
        try:
            a, b = load_batches(gk), load_batches(gt)
        except RunDirError:
            continue
        for batch in sorted(set(a) & set(b)):
            res = compare(b[batch], a[batch], "fp32")
            row = {c: res.get(c) for c in CROSS_COLUMNS if c in res}
            row.update(run_id=run_id, twin=twin_dir.name, kind="weights", a=gk.name, b=gt.name, device="cpu",
                       precision="fp64", profile="fp32", inputs=batch)
            rows.append(row)
    return rows
