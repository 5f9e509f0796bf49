"""`twinbench parity RUN --onnx FILE --twin NAME`: is an edited ONNX file still my model?

A user who optimises, quantises or hand-edits an exported model asks whether it still computes
what the twin's golden says. The file is judged inside a scratch run directory,
`RUN/judged/<stem>-<hash>/`, that links the run's golden, parity inputs and native weights (for
localisation) and holds a copy of the file: the run's own artifacts are never touched, and the
verdict, the parity table and the first diverging layer stay beside the run for later."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from twinbench.core.errors import ConfigError, RunDirError
from twinbench.core.layout import RunDir

#: Artifacts of the twin linked into the scratch directory for localisation (not judged).
NATIVE_KINDS = ("torch", "keras")


@dataclass(frozen=True)
class Judgement:
    where: Path  # the scratch run directory, RUN/judged/<stem>-<hash>/
    parity: Any  # DataFrame (schema.PARITY_COLUMNS)
    verdict: str
    divergent: list[str]  # "runtime: layer" for each failing runtime where localisation found one


def _hardlink(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links here: copy
        shutil.copy2(src, dst)


def _link(src: Path, dst: Path) -> None:
    """`src` at `dst` without copying bytes where possible. Hard links, not symlinks: paths inside
    the scratch directory must resolve inside it (RunDir.rel)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_hardlink)
    else:
        _hardlink(str(src), str(dst))


def prepare(run_dir: Path, onnx_file: Path, twin: str) -> tuple[Path, str]:
    """The scratch directory for judging `onnx_file` against `twin`'s golden; (its path, artifact name)."""
    from twinbench.exporters.artifact import Artifact
    from twinbench.exporters.finalize import io_signature
    from twinbench.preflight import check_onnx_file

    import onnx

    layout = RunDir(run_dir)
    if not layout.manifest.is_file():
        raise RunDirError(f"{run_dir}: no manifest.json (not a twinbench run directory)")
    known = [d.name for d in layout.twin_dirs()]
    if twin not in known:
        raise ConfigError(f"--twin: {run_dir} has no twin {twin!r} (has: {', '.join(known) or 'none'})")
    for needed in (layout.golden(twin), layout.parity_inputs(twin)):
        if not needed.is_file():
            raise RunDirError(f"{needed}: missing, nothing to judge against")
    check_onnx_file(onnx_file)
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    name = f"candidate-{onnx_file.stem}"
    scratch = RunDir(run_dir.resolve() / "judged" / f"{onnx_file.stem}-{digest[:10]}")
    scratch.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout.manifest, scratch.manifest)
    for entry in ("data",):  # embeddings named by the natives' twin_config
        if (run_dir / entry).exists():
            _link(run_dir / entry, scratch.root / entry)
    natives = {}
    for path in sorted(layout.twin(twin).iterdir()):
        if path.suffix == ".json":
            try:
                art = Artifact.read_sidecar(path)
            except (OSError, ValueError, TypeError):
                continue
            if art.kind in NATIVE_KINDS:
                natives[art.kind] = art
                _link(path, scratch.twin(twin) / path.name)
        elif path.is_file() and path.suffix != ".onnx":
            _link(path, scratch.twin(twin) / path.name)  # goldens, parity inputs, references, weights
        elif path.is_dir():
            _link(path, scratch.twin(twin) / path.name)  # a SavedModel folder
    base = natives.get("torch") or natives.get("keras")
    dst = scratch.twin(twin) / f"{name}.onnx"
    shutil.copyfile(onnx_file, dst)
    model = onnx.load(str(dst))
    art = Artifact(name=name, kind="onnx", path=scratch.rel(dst), twin=twin, source="torch", exporter="user",
                   twin_config=dict(base.twin_config) if base else {},
                   meta={"original_path": str(onnx_file.resolve()), "sha256": digest, "judged": True,
                         **io_signature(model)})
    art.write_sidecar(scratch.root)
    return scratch.root, name


def judge(run_dir: str | Path, onnx_file: str | Path, twin: str, *, runtimes: list[str] | None = None,
          progress: Callable[[int, int, str], None] | None = None) -> Judgement:
    """Run `onnx_file` on `runtimes` against `twin`'s golden in `run_dir`; the usual parity table
    and verdict, written (parity table, verdict.json) into the scratch directory."""
    from twinbench.core.atomic import write_json
    from twinbench.pipeline import parity_only
    from twinbench.reports.tables import write_table

    run_dir, onnx_file = Path(run_dir), Path(onnx_file)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found")
    scratch, name = prepare(run_dir, onnx_file, twin)
    df, verdict = parity_only(scratch, runtimes=runtimes, progress=progress, only={name})
    df = df[df["artifact"].astype(str) == name].reset_index(drop=True) if len(df) else df
    from twinbench.bench.parity.verdict import overall_verdict

    verdict = overall_verdict(df)
    divergent = []
    if len(df):
        failing = df[(df["verdict"].astype(str) == "FAIL") & df["first_divergent_layer"].notna()]
        for runtime, layer in dict.fromkeys(zip(failing["runtime"].astype(str),
                                                failing["first_divergent_layer"].astype(str))):
            if layer:
                divergent.append(f"{runtime}: {layer}")
    write_table(df, scratch, "parity")
    write_json(scratch / "verdict.json", {"onnx": str(onnx_file.resolve()), "twin": twin, "verdict": verdict,
                                          "first_divergent_layer": divergent, "runtimes": runtimes}, indent=2)
    return Judgement(scratch, df, verdict, divergent)
