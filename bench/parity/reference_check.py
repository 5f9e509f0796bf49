"""The golden checked against a golden no framework wrote: torch float64 vs the NumPy reference.

Every verdict of the parity table rests on a golden (`golden.npz`, `golden.keras.npz`), and a
golden is torch itself in float64: a torch bug, or a gate order wrong in both the transfer and its
inverse, would pass unseen. So when the run builds a twin, `save_references` runs the twin's NumPy
float64 reference (`twinbench.models.reference`) on the same parity inputs and the same weights,
and stores its outputs beside the golden; `reference_rows` judges each golden against them with
the `fp64` profile, one parity row per batch (runtime "numpy-reference", artifact "golden" or
"golden.keras"). A golden that FAILs is reported as such, and `golden_notes` makes every row
judged against it say so. A twin without a reference gives one SKIP row saying why.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from twinbench.core.atomic import save_npz
from twinbench.bench.parity.compare import compare
from twinbench.bench.parity.inputs import keras_weights_model, load_batches
from twinbench.bench.parity.verdict import worst
from twinbench.core.rows import parity_row
from twinbench.core.errors import RunDirError, one_line
from twinbench.core.layout import RunDir
from twinbench.models.reference import as_numpy_weights, get_reference

if TYPE_CHECKING:
    from twinbench.models.registry import Twin

#: The pseudo-runtime and profile of the golden's own rows in the parity table.
REFERENCE_RUNTIME = "numpy-reference"
PROFILE = "fp64"
#: What a row judged against a failed golden carries in its `error`.
GOLDEN_FAILED = "golden failed its reference check"
#: Golden source -> the artifact name of its row (the golden file's stem).
ARTIFACTS = {"torch": "golden", "keras": "golden.keras"}
#: The key in `reference.npz` holding what ran (JSON text), beside the per-batch outputs. (A
#: `reference.json` would be read as an artifact sidecar: those are the twin folder's *.json.)
INFO_KEY = "__info__"


def reference_batches(twin: "Twin", state_dict: Mapping[str, Any], batches: Mapping[str, np.ndarray]
                      ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(outputs, errors) of `twin`'s reference on every named batch; a batch the reference cannot
    run is an error entry, not an exception (it becomes an ERROR row). Weights are converted once."""
    fn = get_reference(twin.name)
    if fn is None:
        return {}, {name: f"twin {twin.name!r} registers no reference" for name in batches}
    weights = as_numpy_weights(state_dict)
    outputs, errors = {}, {}
    for name, tokens in batches.items():
        try:
            outputs[name] = np.asarray(fn(twin.config, weights, np.asarray(tokens)).outputs, dtype=np.float64)
        except Exception as exc:  # a user's reference may raise anything: a row, not a crashed run
            errors[name] = one_line(exc)
    return outputs, errors


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def save_references(twin: "Twin", torch_model: Any, keras_model: Any, batches: Mapping[str, np.ndarray],
                    layout: RunDir) -> dict[str, Any]:
    """Write `reference.npz` (torch weights) and `reference.keras.npz` (the Keras weights moved into
    torch, as for `golden.keras.npz`); `reference.npz` also holds the info returned (which
    reference ran, or why none; sources; per-batch errors; seconds), and is written even without a
    reference so the table can say why. Call it beside `save_goldens`, same models and batches."""
    start = time.perf_counter()
    fn = get_reference(twin.name)
    outputs: dict[str, dict[str, np.ndarray]] = {}
    info: dict[str, Any] = {"twin": twin.name, "reference": _qualname(fn) if fn else "", "reason": "",
                            "sources": [], "errors": {}, "seconds": 0.0}
    if fn is None:
        info["reason"] = (f"twin {twin.name!r} registers no NumPy reference "
                          "(twinbench.models.reference.register_reference): its golden is not checked this way")
    else:
        models = {"torch": torch_model}
        if keras_model is not None:
            models["keras"] = keras_weights_model(twin, keras_model)
        for source, model in models.items():
            outputs[source], errors = reference_batches(twin, model.state_dict(), batches)
            info["sources"].append(source)
            if errors:
                info["errors"][source] = errors
    info["seconds"] = round(time.perf_counter() - start, 4)
    if "keras" in outputs:
        save_npz(layout.reference(twin.name, "keras"), outputs["keras"])
    save_npz(layout.reference(twin.name), {**outputs.get("torch", {}), INFO_KEY: np.asarray(json.dumps(info))})
    return info


def _read(layout: RunDir, twin: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """(info, torch-weights outputs) from `reference.npz`; None when the run has none."""
    path = layout.reference(twin)
    if not path.is_file():
        return None
    arrays = load_batches(path)
    try:
        info = json.loads(str(arrays.pop(INFO_KEY)[()]))
    except (KeyError, ValueError) as exc:
        raise RunDirError(f"{path}: no readable {INFO_KEY} ({type(exc).__name__}: {exc})") from None
    if not isinstance(info, dict):
        raise RunDirError(f"{path}: {INFO_KEY} is not an object")
    return info, arrays


def _row(twin: str, source: str, run_id: str, **values: Any) -> dict[str, Any]:
    cell = {"twin": twin, "artifact": ARTIFACTS[source], "exporter": "torch-fp64", "precision": "fp64",
            "runtime": REFERENCE_RUNTIME, "device": "cpu"}
    return parity_row(cell, run_id, profile=PROFILE, **values)


def reference_rows(run_dir: str | Path, run_id: str) -> list[dict[str, Any]]:
    """Parity rows of every golden in the run against the NumPy reference (schema.PARITY_COLUMNS)."""
    layout = RunDir(Path(run_dir))
    rows: list[dict[str, Any]] = []
    for twin_dir in layout.twin_dirs():
        twin = twin_dir.name
        if layout.golden(twin).is_file():
            rows.extend(_twin_rows(layout, twin, run_id))
    return rows


def _twin_rows(layout: RunDir, twin: str, run_id: str) -> list[dict[str, Any]]:
    try:
        stored = _read(layout, twin)
    except RunDirError as exc:
        return [_row(twin, "torch", run_id, verdict="ERROR", inputs="", error=str(exc))]
    if stored is None:
        return [_row(twin, "torch", run_id, verdict="SKIP", inputs="",
                     error="no reference.npz: the run predates the NumPy reference check")]
    info, torch_outputs = stored
    if not info.get("reference"):
        return [_row(twin, "torch", run_id, verdict="SKIP", inputs="",
                     error=str(info.get("reason") or f"twin {twin!r} has no NumPy reference"))]
    rows = []
    for source in ARTIFACTS:
        golden_path = layout.golden(twin, source)
        if not golden_path.is_file():
            continue
        if source not in info.get("sources", ARTIFACTS):
            rows.append(_row(twin, source, run_id, verdict="SKIP", inputs="",
                             error=f"{golden_path.name}: no reference outputs were computed for its weights"))
            continue
        reason = (f"{golden_path.name} (torch float64 on CPU) against the NumPy float64 reference "
                  f"{info['reference']}: the golden's own check")
        try:
            golden = load_batches(golden_path)
            reference = torch_outputs if source == "torch" else load_batches(layout.reference(twin, source))
        except RunDirError as exc:
            rows.append(_row(twin, source, run_id, verdict="ERROR", inputs="", error=str(exc),
                             profile_reason=reason))
            continue
        errors = (info.get("errors") or {}).get(source) or {}
        for batch, g in golden.items():
            row = _row(twin, source, run_id, inputs=batch, profile_reason=reason)
            if batch not in reference:
                why = errors.get(batch, "no output stored")
                row.update(verdict="ERROR", n=int(g.shape[0]) if g.ndim else 1,
                           error=f"the reference did not run on batch {batch!r}: {why}")
            else:
                res = compare(reference[batch], g, PROFILE)  # the reference is the truth here
                row.update({k: res[k] for k in ("n", "max_abs", "max_rel", "mean_abs", "rmse", "cosine",
                                                 "argmax_agree", "worst_index", "atol", "rtol", "verdict",
                                                 "error")})
            rows.append(row)
    return rows


def golden_notes(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(twin, golden file name) -> the note every row judged against that golden gets, for each
    golden that FAILed its reference check (worst batch and its max abs error named)."""
    worst_by: dict[tuple[str, str], tuple[float, str]] = {}
    for row in rows:
        if row.get("runtime") != REFERENCE_RUNTIME or row.get("verdict") != "FAIL":
            continue
        key = (str(row["twin"]), f"{row['artifact']}.npz")
        err = row.get("max_abs")
        err = math.inf if err is None or math.isnan(float(err)) else float(err)
        if key not in worst_by or err > worst_by[key][0]:
            worst_by[key] = (err, str(row.get("inputs", "")))
    return {key: f"{GOLDEN_FAILED} ({key[1]}: max abs {err:.1e} vs the NumPy reference on batch {batch!r})"
            for key, (err, batch) in worst_by.items()}


def add_note(error: Any, note: str) -> str:
    """`error` with `note` appended ("; " between), for rows resting on a failed golden."""
    text = "" if error is None or (isinstance(error, float) and math.isnan(error)) else str(error)
    return f"{text}; {note}" if text else note


def reference_seconds(run_dir: str | Path) -> float:
    """Seconds the run spent computing NumPy references (the sum over twins of their info's figure)."""
    layout = RunDir(Path(run_dir))
    total = 0.0
    for twin_dir in layout.twin_dirs():
        try:
            stored = _read(layout, twin_dir.name)
        except RunDirError:
            continue
        if stored:
            total += float(stored[0].get("seconds") or 0.0)
    return round(total, 3)


def reference_summary(parity: Any) -> str | None:
    """The report's one line on the goldens, e.g. "golden vs NumPy reference: PASS (max abs 3.6e-15
    over 2 twins ...)"; None when the table has no such rows."""
    if parity is None or not len(parity) or "runtime" not in parity:
        return None
    rows = parity[parity["runtime"] == REFERENCE_RUNTIME]
    if not len(rows):
        return None
    verdict = worst(rows["verdict"])
    values = rows["max_abs"].astype(float)
    twins = sorted({str(t) for t in rows["twin"]})
    checked = sorted({str(r.twin) for r in rows.itertuples() if r.verdict != "SKIP"})
    head = f"golden vs NumPy reference: {verdict}"
    if values.notna().any():
        head += (f" (max abs {values.max():.1e}, fp64 profile: atol 1e-10 + rtol 1e-10 x |reference|; "
                 f"{len(checked)} of {len(twins)} twins checked)")
    notes = []
    for twin in twins:
        sub = rows[rows["twin"].astype(str) == twin]
        v = worst(sub["verdict"])
        if v != "PASS":
            bad = sub[sub["verdict"] == v].iloc[0]
            notes.append(f"{twin} {v}: {bad['error']}")
    return head + ("; " + "; ".join(notes) if notes else "")
