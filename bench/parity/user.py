"""References for ONNX files that belong to no twin (`twinbench run --onnx FILE`).

A twin's artifacts are judged against its torch model in float64. A user's file has no such model,
so `[onnx_reference]` says what judges it, in this order:

- `onnx`: the original the file was made from (before optimisation, quantisation or conversion),
  run on ONNX Runtime CPU in float64 where its kernels allow (bench/parity/fp64.py), else fp32;
- `golden`: an .npz of inputs and expected outputs (every graph input and the first output by
  name, or `<batch>/<name>` for several named batches), compared as given;
- neither: agreement with a reference runtime (`runtime`, ORT CPU by default) running the same
  file, as Polygraphy's `run --onnxrt --openvino` does; that runtime's own cells are not judged
  against themselves (SKIP with the reason).

The file's parity inputs (`artifacts/<twin>/<name>.parity_inputs.npz`, one array per input and
batch: bench/feeds.py) and golden (`<name>.golden.npz`, the first output per batch, float64) are
written beside its copy, a reference ONNX is copied into the run directory once
(`reference-<sha>.onnx`), and the artifact's sidecar says where each is and what the reference was
(`meta["reference"]`), so the run directory alone can judge and localise again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from twinbench.bench.feeds import batch_feeds, from_tokens, pack, unpack, with_lengths
from twinbench.bench.parity.fp64 import load_reference, run_session
from twinbench.bench.parity.inputs import load_batches, save_golden
from twinbench.bench.runtimes import get_runtime, unavailable_reason
from twinbench.bench.runtimes.base import LoadOptions
from twinbench.core.atomic import save_npz
from twinbench.core.errors import ConfigError, RunDirError, one_line
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.onnx_inputs import InputSpec, graph_inputs, tokens_input
from twinbench.exporters.user_onnx import load_checked

#: Seed of the generated parity batches (the twins' parity inputs use the same).
SEED = 1337
#: The name of the one batch of a golden .npz written without batch names.
GIVEN = "given"


@dataclass(frozen=True)
class OnnxReference:
    """`[onnx_reference]`: what a user's ONNX file is judged against (module docstring). `onnx`
    and `golden` are paths (relative to the config file); `runtime` a registered runtime."""

    onnx: str | None = None
    golden: str | None = None
    runtime: str = "ort-cpu"

    def __post_init__(self) -> None:
        if self.onnx and self.golden:
            raise ConfigError("onnx_reference: give a reference onnx or a golden .npz, not both")
        if not self.runtime:
            raise ConfigError("onnx_reference.runtime: must name a runtime")

    @property
    def kind(self) -> str:
        return "onnx" if self.onnx else "golden" if self.golden else "runtime"


# checks before the run (twinbench/preflight.py) -------------------------------------------------

def check_reference_onnx(path: str | Path, info: Mapping[str, Any]) -> None:
    """A reference ONNX loads, passes the checker and takes the inputs the judged file takes."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"onnx_reference.onnx: no such file {str(p)!r}")
    model = load_checked(p, ConfigError, f"onnx_reference.onnx: {p}", reason_limit=120, checker_limit=200)
    theirs = sorted(i.name for i in graph_inputs(model))
    ours = sorted(i["name"] for i in info["inputs"])
    if theirs != ours:
        raise ConfigError(f"onnx_reference.onnx: {p} takes inputs {theirs}, {info['path']} takes {ours}: "
                          f"a reference must take the same inputs")
    if not model.graph.output:
        raise ConfigError(f"onnx_reference.onnx: {p} has no output")


def read_golden(path: str | Path, inputs: Sequence[str], output: str) -> tuple[dict[str, dict[str, np.ndarray]],
                                                                               dict[str, np.ndarray]]:
    """(batch -> feeds, batch -> expected first output) from a golden .npz; ConfigError on any gap."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"onnx_reference.golden: no such file {str(p)!r}")
    try:
        flat = load_batches(p)
    except RunDirError as exc:
        raise ConfigError(f"onnx_reference.golden: {exc}") from None
    grouped = unpack(flat)
    if not any(isinstance(v, Mapping) for v in grouped.values()):
        grouped = {GIVEN: dict(flat)}
    feeds, golden = {}, {}
    for batch, arrays in grouped.items():
        if not isinstance(arrays, Mapping):
            raise ConfigError(f"onnx_reference.golden: {p}: {batch!r} is neither an input nor `<batch>/<name>`")
        missing = [n for n in (*inputs, output) if n not in arrays]
        if missing:
            where = "" if batch == GIVEN else f" batch {batch!r}"
            raise ConfigError(f"onnx_reference.golden: {p}{where}: no array for {missing} (it needs every input "
                              f"{list(inputs)} and the first output {output!r}, by name)")
        rows = {int(np.asarray(arrays[n]).shape[0]) if np.asarray(arrays[n]).ndim else -1 for n in (*inputs, output)}
        if len(rows) != 1 or -1 in rows:
            raise ConfigError(f"onnx_reference.golden: {p}: batch {batch!r}: inputs and output disagree on the "
                              f"number of rows ({sorted(rows)})")
        feeds[batch] = {n: np.asarray(arrays[n]) for n in inputs}
        golden[batch] = np.asarray(arrays[output], dtype=np.float64)
    return feeds, golden


def check_golden_file(path: str | Path, info: Mapping[str, Any]) -> None:
    if not info["outputs"]:
        raise ConfigError(f"onnx: {info['path']}: the graph has no output to compare")
    read_golden(path, [i["name"] for i in info["inputs"]], info["outputs"][0])


# the parity batches of a user's file -------------------------------------------------------------

def user_batches(inputs: Sequence[InputSpec], seq_len: int, vocab: int) -> dict[str, dict[str, np.ndarray]]:
    """Named batches with every input's values (bench/feeds.py): `padded` (rows of realistic
    lengths), `full_length`, `one_token`, `batch1`, `large_batch` and, when the sequence axis is
    free, `long` (twice the length; dropped later if the reference cannot run it). A mask decides
    whether rows are padded; a fixed batch or sequence dimension of the file is kept."""
    tok = tokens_input(inputs)
    dims = list(tok.shape) + [None, None]
    fixed_b = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    fixed_s = dims[1] if isinstance(dims[1], int) and dims[1] > 0 else None
    seq = fixed_s or seq_len
    masked = any(s.role == "mask" for s in inputs)
    rng = np.random.default_rng(SEED)

    def rows(n: int) -> int:
        return fixed_b or n

    def lengths(n: int, *, pad: bool, length: int) -> list[int]:
        if not (pad and masked):
            return [length] * rows(n)
        drawn = rng.integers(1, length + 1, size=rows(n))
        drawn[0] = length
        return [int(x) for x in drawn]

    shapes = {"padded": (16, True, seq), "full_length": (8, False, seq), "batch1": (1, False, seq),
              "large_batch": (64, True, seq)}
    if masked:
        shapes["one_token"] = (4, False, 1)
    if fixed_s is None:
        shapes["long"] = (4, True, 2 * seq)
    out = {}
    for name, (n, pad, length) in shapes.items():
        width = length if name == "long" else seq
        ids = with_lengths(rng, lengths(n, pad=pad, length=length), width, vocab)
        out[name] = from_tokens(inputs, ids)
    return out


# goldens --------------------------------------------------------------------------------------

def _golden_from_onnx(path: Path, batches: Mapping[str, Mapping[str, np.ndarray]]
                      ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import onnx

    ref = load_reference(onnx.load(str(path)))
    first = ref.model.graph.output[0].name
    golden, dropped = {}, {}
    for name, feeds in batches.items():
        try:
            golden[name] = np.asarray(run_session(ref.session, feeds, [first])[0], dtype=np.float64)
        except Exception as exc:  # a batch the reference itself cannot take judges nothing
            dropped[name] = one_line(exc)
    return golden, {**ref.describe(), "dropped": dropped}


def _golden_from_runtime(art: Artifact, run_dir: Path, runtime: str, settings: Mapping[str, Any],
                         batches: Mapping[str, Mapping[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    rt = get_runtime(runtime)
    session = rt.load(art, LoadOptions(device="cpu", threads=1, run_dir=str(run_dir), settings=dict(settings)))
    golden, dropped = {}, {}
    try:
        for name, feeds in batches.items():
            try:
                result = session.bind(feeds)()
                session.sync()
                golden[name] = np.asarray(session.fetch(result)[0], dtype=np.float64)
            except Exception as exc:
                dropped[name] = one_line(exc)
        info = dict(session.info())
    finally:
        session.close()
    precision = str(info.get("inference_precision") or "fp32")
    return golden, {"precision": precision, "runtime_settings": {k: v for k, v in info.items()
                                                                  if isinstance(v, (str, int, float, bool))},
                    "dropped": dropped}


def _copy_reference(src: Path, run_dir: Path, twin: str) -> str:
    """The reference ONNX inside the run directory, once however many files it judges."""
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:10]
    dst = run_dir / "artifacts" / twin / f"reference-{src.stem}-{digest}.onnx"
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst.relative_to(run_dir).as_posix()


def reference_label(meta: Mapping[str, Any]) -> str:
    """One line naming what a user file is judged against (for `profile_reason`)."""
    ref = meta.get("reference") or {}
    kind = ref.get("kind")
    if kind == "onnx":
        ops = ref.get("fp32_ops") or []
        extra = f", {', '.join(ops)} in fp32" if ops else ""
        return f"vs the reference ONNX {Path(str(ref.get('original_path', ''))).name} on ORT CPU ({ref.get('precision')}{extra})"
    if kind == "golden":
        return f"vs the golden outputs in {Path(str(ref.get('original_path', ''))).name}"
    if kind == "runtime":
        return f"vs {ref.get('runtime')} (the reference runtime) on the same file"
    return ""


def attach_reference(art: Artifact, run_dir: str | Path, ref: OnnxReference, *, seq_len: int,
                     runtime_settings: Mapping[str, Mapping[str, Any]] | None = None) -> Artifact:
    """Write the parity inputs and golden of a user's file and record them in its sidecar; returns
    the artifact with `meta["parity_inputs"]`, `meta["golden"]` and `meta["reference"]`. A
    reference runtime that is not installed leaves the file without a golden (its parity rows say
    SKIP and why); a reference that runs on none of the batches leaves `reference["error"]` (ERROR)."""
    run_dir = Path(run_dir)
    inputs = [InputSpec.from_dict(d) for d in art.meta.get("input_roles") or ()]
    if not inputs:
        raise ConfigError(f"{art.name}: no input roles recorded (not a user ONNX artifact?)")
    vocab = int(art.meta.get("vocab_size") or 3)
    first_output = (art.meta.get("outputs") or [{}])[0].get("name", "")
    record: dict[str, Any] = {"kind": ref.kind}
    golden: dict[str, np.ndarray] = {}
    if ref.kind == "golden":
        batches, golden = read_golden(ref.golden, [i.name for i in inputs], first_output)  # type: ignore[arg-type]
        record.update(original_path=str(Path(str(ref.golden)).resolve()), precision="given")
    else:
        batches = user_batches(inputs, seq_len, vocab)
        if ref.kind == "onnx":
            record.update(original_path=str(Path(str(ref.onnx)).resolve()),
                          path=_copy_reference(Path(str(ref.onnx)), run_dir, art.twin))
            golden, info = _golden_from_onnx(Path(str(ref.onnx)), batches)
        else:
            record["runtime"] = ref.runtime
            why = _runtime_problem(ref.runtime)
            info = {"unavailable": why} if why else {}
            if not why:
                golden, info = _golden_from_runtime(art, run_dir, ref.runtime,
                                                    (runtime_settings or {}).get(ref.runtime, {}), batches)
        record.update(info)
        batches = {k: v for k, v in batches.items() if k in golden}
    meta = {**art.meta, "reference": record}
    if golden:
        base = run_dir / Path(art.path).with_suffix("")
        inputs_path, golden_path = Path(f"{base}.parity_inputs.npz"), Path(f"{base}.golden.npz")
        save_npz(inputs_path, pack(batches))
        save_golden(golden_path, golden)
        meta.update(parity_inputs=inputs_path.relative_to(run_dir).as_posix(),
                    golden=golden_path.relative_to(run_dir).as_posix())
    elif not record.get("unavailable"):
        dropped = "; ".join(f"{k}: {v}" for k, v in record.get("dropped", {}).items())
        record["error"] = f"the reference ran on none of the parity batches ({dropped})"
    out = dataclasses.replace(art, meta=meta)
    out.write_sidecar(run_dir)
    return out


def _runtime_problem(runtime: str) -> str | None:
    rt = get_runtime(runtime)
    reason = unavailable_reason(rt)
    if reason:
        return f"the reference runtime {runtime} is unavailable here ({reason})"
    if "onnx" not in rt.accepts:
        return f"the reference runtime {runtime} does not run ONNX files"
    return None


def reference_problem(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(verdict, reason) when a user file has no golden: SKIP without a usable reference, ERROR
    when the reference failed; None when it has one."""
    ref = meta.get("reference") or {}
    if ref.get("error"):
        return "ERROR", f"user ONNX file: {ref['error']}"
    if ref.get("unavailable"):
        return "SKIP", f"user ONNX file: {ref['unavailable']}"
    if not meta.get("golden"):
        return "SKIP", "user ONNX file: no reference (give [onnx_reference] onnx, golden or runtime; docs/parity.md)"
    return None


def feeds_of(art: Artifact, batch: Any) -> dict[str, np.ndarray]:
    """One stored parity batch of a user file as feeds."""
    return batch_feeds([InputSpec.from_dict(d) for d in art.meta.get("input_roles") or ()], batch)
