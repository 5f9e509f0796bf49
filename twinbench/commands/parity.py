"""`twinbench parity RUN`: every artifact of a run directory on every CPU runtime, untimed, through
the same planner, runner and worker as a run, judged by the same parity table. With `--onnx FILE
--twin NAME`: is an edited ONNX file still NAME's model? (`judge`).

A user who optimises, quantises or hand-edits an exported model asks whether it still computes
what the twin's golden says. The file is judged inside a scratch run directory,
`RUN/judged/<stem>-<hash>/`, that links the run's golden, parity inputs and native weights (for
localisation) and holds a copy of the file: the run's own artifacts are never touched, and the
verdict, the parity table and the first diverging layer stay beside the run for later.

`parity_only` and `judge` are the Python API's; `main` is the command line's body (the `--config`
file's `[judge]` table and `--set judge.*` items under the options given, then the check and its
`Answer`)."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from twinbench.bench.cells import make_cell_id, plan_cells
from twinbench.bench.parity.table import parity_table
from twinbench.bench.parity.verdict import overall_verdict
from twinbench.bench.runner import run_cells
from twinbench.bench.runtimes import RUNTIMES, get_runtime
from twinbench.commands.progress import silent_progress
from twinbench.config import config_from_manifest, read_config_file
from twinbench.core.atomic import write_json
from twinbench.core.console import make_console
from twinbench.core.errors import ConfigError, RunDirError
from twinbench.core.layout import RunDir
from twinbench.core.manifest import read_manifest
from twinbench.core.tables import write_table
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.finalize import io_signature
from twinbench.exporters.user_onnx import copy_onnx
from twinbench.exporters.precision import graph_precision
from twinbench.models.registry import TWINS, load_twin_module
from twinbench.overrides import apply_sets
from twinbench.preflight import check_onnx_file
from twinbench.stages.prepare import artifact_tasks, seq_lens
from twinbench.summary import Answer, parity_summary

Progress = Callable[[int, int, str], None]
#: Where a parity re-check writes its cells, beside the run's own `cells/`.
PARITY_CELLS = "parity_only"
#: Artifacts of the twin linked into the scratch directory for localisation (not judged).
NATIVE_KINDS = ("torch", "keras")


def _has_golden(layout: RunDir, art: Artifact) -> bool:
    """A twin's artifact: its twin's golden and parity inputs; a user's file: its own (bench/parity/user.py)."""
    own = [art.meta.get("golden"), art.meta.get("parity_inputs")]
    if art.source == "user":
        return all(isinstance(p, str) and (layout.root / p).is_file() for p in own)
    return layout.golden(art.twin).is_file() and layout.parity_inputs(art.twin).is_file()


def read_artifacts(layout: RunDir, *, only: Any = None, with_goldens: bool = True) -> list[Artifact]:
    """The artifacts recorded in a run directory's sidecars (those with a golden when asked)."""
    out = []
    for twin_dir in layout.twin_dirs():
        for side in sorted(twin_dir.glob("*.json")):
            try:
                art = Artifact.read_sidecar(side)
            except (OSError, ValueError, TypeError) as exc:
                raise RunDirError(f"{side}: unreadable artifact sidecar ({exc})") from None
            if with_goldens and not _has_golden(layout, art):
                continue
            if only is None or art.name in only:
                out.append(art)
    return out


def check_twin_modules(recorded: Sequence[str], given: Sequence[str], artifacts: Sequence[Artifact]) -> None:
    """A run directory never imports code by itself: the twin modules it recorded are only named
    here. Every native artifact's twin must be registered by the built-ins or by a module the user
    gave this invocation (`--twin-module`); else one line saying which to pass."""
    for mod in given:
        load_twin_module(mod)
    missing = sorted({a.twin for a in artifacts if a.kind in NATIVE_KINDS and a.twin not in TWINS})
    if missing:
        hint = f" (the run used: {', '.join(recorded)})" if recorded else ""
        raise ConfigError(f"twin(s) {', '.join(missing)} are not registered: pass their module with --twin-module"
                          f"{hint}; a run directory never imports modules by itself")


def parity_only(run_dir: str | Path, *, runtimes: list[str] | None = None, threads: int = 1,
                settings: dict[str, dict[str, Any]] | None = None, executor: Any = None,
                localize_failures: bool = True, progress: Progress | None = None, only: Any = None,
                twin_modules: Sequence[str] = ()) -> tuple[Any, str]:
    """Every artifact on every CPU runtime, untimed; (parity DataFrame, verdict).

    Runtime settings are the run's (its manifest's config) updated by `settings`, so a re-check
    computes in the precision the benchmark did. `only`: artifact names to check (the rest stay
    available to localisation). `twin_modules`: user twin modules this invocation was given."""
    layout = RunDir(Path(run_dir), PARITY_CELLS)
    cfg = config_from_manifest(read_manifest(layout.root, require_complete=False))
    if not layout.artifacts.is_dir():
        raise RunDirError(f"{run_dir}: no artifacts/ folder (not a twinbench run directory?)")
    artifacts = read_artifacts(layout, only=only)
    if not artifacts:
        raise RunDirError(f"{layout.artifacts}: no artifacts with a golden and parity inputs")
    check_twin_modules(cfg.twin_modules, twin_modules, artifacts)
    names = list(runtimes) if runtimes else RUNTIMES.names()
    for name in names:
        get_runtime(name)  # unknown names: one line, exit 2
    all_settings = {k: dict(v) for k, v in cfg.runtime_settings.items()}
    for name, values in (settings or {}).items():
        all_settings.setdefault(name, {}).update(values)
    shutil.rmtree(layout.cells, ignore_errors=True)
    layout.cells.mkdir(parents=True)
    seq = list(seq_lens(cfg, artifact_tasks(artifacts)))[:1]  # the run's rule; untimed cells need one length
    specs, skipped = plan_cells(layout.root, artifacts, names, ["cpu"], [1], seq, [threads], settings=all_settings,
                                twin_modules=list(twin_modules), timed=False, cells=PARITY_CELLS)
    for row in skipped:  # judged as SKIP rows by the parity table
        cell_id = make_cell_id(Artifact(name=row["artifact"], kind="onnx", path="", twin=row["twin"],
                                        source="user"), row["runtime"], row["device"] or "cpu", 1, 1, 1) + ".skipped"
        write_json(layout.cell(cell_id).row, row)
    run_cells(specs, executor, progress=progress)
    df = parity_table(layout.root, cells=PARITY_CELLS, localize_failures=localize_failures, twin_modules=twin_modules)
    return df, overall_verdict(df)


# judging an edited ONNX file -------------------------------------------------------------------------

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


def prepare_judged(run_dir: Path, onnx_file: Path, twin: str) -> tuple[Path, str]:
    """The scratch directory for judging `onnx_file` against `twin`'s golden; (its path, artifact name)."""
    import onnx

    layout = RunDir(run_dir)
    read_manifest(run_dir, require_complete=False)  # a run directory, of this schema, well typed
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
    if (run_dir / "data").exists():  # embeddings named by the natives' twin_config
        _link(run_dir / "data", scratch.root / "data")
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
    data = copy_onnx(onnx_file, dst)  # with its external data, if any
    model = onnx.load(str(dst), load_external_data=False)
    precision, why = graph_precision(model)  # an fp16 or int8 copy is judged by its own profile
    art = Artifact(name=name, kind="onnx", path=scratch.rel(dst), twin=twin, source="torch", exporter="user",
                   precision=precision, twin_config=dict(base.twin_config) if base else {},
                   meta={"original_path": str(onnx_file.resolve()), "sha256": digest, "judged": True,
                         "extra_files": [scratch.rel(p) for p in data], "precision_reason": why,
                         **io_signature(model)})
    art.write_sidecar(scratch.root)
    return scratch.root, name


def judge(run_dir: str | Path, onnx_file: str | Path, twin: str, *, runtimes: list[str] | None = None,
          progress: Progress | None = None, twin_modules: Sequence[str] = ()) -> Judgement:
    """Run `onnx_file` on `runtimes` against `twin`'s golden in `run_dir`; the usual parity table
    and verdict, written (parity table, verdict.json) into the scratch directory."""
    run_dir, onnx_file = Path(run_dir), Path(onnx_file)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found")
    scratch, name = prepare_judged(run_dir, onnx_file, twin)
    df, _ = parity_only(scratch, runtimes=runtimes, progress=progress, only={name}, twin_modules=twin_modules)
    df = df[df["artifact"].astype(str) == name].reset_index(drop=True) if len(df) else df
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


# the command line ---------------------------------------------------------------------------------

#: Keys of a config file's `[judge]` table (and of `--set judge.*`).
JUDGE_KEYS = ("onnx", "twin", "runtimes")


def judge_options(config: Path | None, sets: Sequence[str], onnx: Path | None, twin: str | None,
                  runtimes: Sequence[str] | None) -> tuple[Path | None, str | None, list[str] | None]:
    """The `[judge]` table of a config file (its `onnx` path relative to the file) with the `--set
    judge.*` items over it, under the command line's own --onnx/--twin/-r."""
    section: Any = {}
    if config is not None:
        section = read_config_file(config).get("judge")
        if not isinstance(section, dict):
            raise ConfigError(f"config file {str(config)!r}: needs a [judge] table with onnx and twin")
        if isinstance(section.get("onnx"), str) and not Path(section["onnx"]).is_absolute():
            section = {**section, "onnx": str(config.parent / section["onnx"])}
    if sets:
        merged = apply_sets({"judge": section}, sets)
        if set(merged) != {"judge"}:
            raise ConfigError(f"--set: parity takes judge.* keys only ({', '.join('judge.' + k for k in JUDGE_KEYS)})")
        section = merged["judge"]
        if not isinstance(section, dict):
            raise ConfigError("--set judge: must be a table")
    unknown = sorted(set(section) - set(JUDGE_KEYS))
    if unknown:
        raise ConfigError(f"judge: unknown key(s) {', '.join(unknown)} (known: {', '.join(JUDGE_KEYS)})")
    if "onnx" in section and not isinstance(section["onnx"], str):
        raise ConfigError(f"judge.onnx: must be a path, got {section['onnx']!r}")
    if "twin" in section and not isinstance(section["twin"], str):
        raise ConfigError(f"judge.twin: must be a twin name, got {section['twin']!r}")
    listed = section.get("runtimes")
    if listed is not None and (not isinstance(listed, list) or not all(isinstance(r, str) for r in listed)):
        raise ConfigError(f"judge.runtimes: must be a list of runtime names, got {listed!r}")
    if onnx is None and "onnx" in section:
        onnx = Path(section["onnx"])
    chosen = list(runtimes) if runtimes else listed
    return onnx, twin or section.get("twin"), chosen


def _sci(value: Any) -> str:
    """A figure as 1.23e-05, or "-" when the check produced none (None, NaN, text)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{number:.2e}" if number == number else "-"


def print_parity(df: Any) -> None:
    """The parity rows as a table, then why each ERROR or FAIL could not pass (once per artifact x runtime)."""
    from rich.table import Table

    if df is None or not len(df):
        return
    table = Table("twin", "artifact", "runtime", "inputs", "profile", "max_abs", "verdict")
    reasons = []
    for row in df.itertuples():
        table.add_row(str(row.twin), str(row.artifact), str(row.runtime), str(row.inputs), str(row.profile),
                      _sci(row.max_abs), str(row.verdict))
        error = getattr(row, "error", None)
        if str(row.verdict) in ("ERROR", "FAIL") and isinstance(error, str) and error:
            reasons.append(f"{row.twin}/{row.artifact} on {row.runtime}: {error}")
    make_console().print(table)
    for line in dict.fromkeys(reasons):
        print(f"  {line}")


def main(run_dir: Path, *, runtimes: Sequence[str] | None = None, onnx: Path | None = None, twin: str | None = None,
         config: Path | None = None, sets: Sequence[str] = (), twin_modules: Sequence[str] = (),
         progress: Progress = silent_progress) -> Answer:
    """`twinbench parity RUN` (every artifact again) or, with an ONNX file and a twin, `judge`."""
    file, twin_name, chosen = onnx, twin, list(runtimes) if runtimes else None
    if config is not None or sets:
        file, twin_name, chosen = judge_options(config, sets, file, twin_name, chosen)
    if (file is None) != (twin_name is None):
        raise ConfigError("--onnx and --twin go together: the file to judge and the twin whose golden judges it")
    if file is not None:
        result = judge(run_dir, file, str(twin_name), runtimes=chosen, progress=progress, twin_modules=twin_modules)
        code = 1 if result.verdict == "FAIL" else 0

        def show_judgement() -> None:
            print_parity(result.parity)
            for line in result.divergent:
                print(f"first diverging layer: {line}")
            print(f"saved:  {result.where}")
            print(f"parity: {result.verdict}")

        return Answer(code, {**parity_summary(result.where, result.parity, result.verdict),
                             "first_divergent_layer": result.divergent}, show_judgement)
    df, verdict = parity_only(run_dir, runtimes=chosen, progress=progress, twin_modules=twin_modules)

    def show() -> None:
        print_parity(df)
        print(f"parity: {verdict}")

    return Answer(1 if verdict == "FAIL" else 0, parity_summary(run_dir, df, verdict), show)
