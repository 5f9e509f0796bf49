"""The pipeline: config -> twins (train, transfer) -> artifacts -> cells -> tables -> reports.

Each stage writes its output into the run directory, so any stage can be re-run from it alone.
Failures of one export or one cell become rows with the error; only bad input stops a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from twinbench.config import RunConfig, TwinSpec
from twinbench.core.errors import ConfigError, RunDirError, one_line
from twinbench.core.layout import RunDir
from twinbench.core.manifest import create_run_dir, update_manifest

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    parity_verdict: str  # PASS | FAIL | SKIP
    report_md: Path | None
    report_html: Path | None


@dataclass(frozen=True)
class Pretrained:
    """A task's pretrained embedding matrix, saved in the run directory for the twins to load."""

    path: str
    dim: int
    freeze: bool


@dataclass(frozen=True)
class ResolvedTwin:
    """A twin as this run builds it: the registry's `Twin` with the sizes the data decides laid
    under the user's overrides, resolved once and passed down to every stage."""

    spec: TwinSpec
    twin: Any  # models.registry.Twin
    task: str


def resolve_twin(spec: TwinSpec, splits: Any, pretrained: Pretrained | None = None) -> ResolvedTwin:
    """Vocabulary, classes/tags, the length field and a pretrained embedding come from the data
    unless the user set them; the twin's own contract (models/registry.py `Twin`) says which."""
    from twinbench.models.registry import get_twin

    declared = get_twin(spec.name, **dict(spec.overrides))  # the user's head etc. decide the contract
    if pretrained is not None:
        asked = spec.overrides.get("embed_dim", pretrained.dim)
        if asked != pretrained.dim:
            raise ConfigError(f"twin {spec.name!r}: embed_dim: {asked!r} but the embeddings' vectors are "
                              f"{pretrained.dim}-dimensional")
    auto = declared.data_overrides(
        vocab_size=len(splits.vocab), num_outputs=int(splits.num_classes), max_len=int(splits.x_train.shape[1]),
        embedding_matrix=pretrained.path if pretrained else None, embed_dim=pretrained.dim if pretrained else None,
        freeze_embedding=pretrained.freeze if pretrained else False)
    twin = get_twin(spec.name, **{**auto, **dict(spec.overrides)})
    return ResolvedTwin(spec, twin, twin.task)


def check_matrix(cfg: RunConfig, twins: list[ResolvedTwin], seq_lens: list[int]) -> None:
    """Every batch and sequence length of the matrix must be one each twin accepts (a CNN's widest
    kernel, a transformer's position table): ConfigError naming the twin and its range, before
    any training. Fixed-length twins run at their own length only, so they are not asked."""
    for rt in twins:
        for batch in cfg.batches:
            problem = rt.twin.batch_problem(batch)
            if problem:
                raise ConfigError(f"batches: {problem}")
        if rt.twin.fixed_length:
            continue
        for seq in seq_lens:
            problem = rt.twin.seq_len_problem(seq)
            if problem:
                raise ConfigError(f"seq_lens: {problem}")


def _save_inputs(run_dir: Path, data: dict[str, Any], matrices: dict[str, Any]) -> None:
    """The data splits and pretrained matrices, into the run directory now that it exists."""
    from twinbench.models.embeddings import save_matrix

    for task, splits in data.items():
        _save_splits(run_dir, task, splits)
    for task, matrix in matrices.items():
        save_matrix(matrix, RunDir(run_dir).embedding(task))


def _save_splits(run_dir: Path, task: str, splits: Any) -> None:
    import numpy as np

    from twinbench.core.atomic import write_with

    layout = RunDir(run_dir)
    layout.data(task).mkdir(parents=True, exist_ok=True)
    splits.vocab.save(layout.vocab(task))
    write_with(layout.splits(task), lambda tmp: np.savez_compressed(tmp, x_train=splits.x_train, y_train=splits.y_train,
                                                                     x_val=splits.x_val, y_val=splits.y_val), ".npz")


def _load_all_data(cfg: RunConfig, tasks: set[str]) -> dict[str, Any]:
    from twinbench.models.data import DataConfig, load_data

    sections = {"classify": dict(cfg.data), "tag": {"task": "tag", **dict(cfg.tag_data)}}
    return {task: load_data(DataConfig(**sections[task])) for task in sorted(tasks)}


def _load_pretrained(cfg: RunConfig, data: dict[str, Any], run_dir: Path,
                     say: Say) -> tuple[dict[str, Pretrained], dict[str, Any], dict[str, Any]]:
    """Read the .vec file once per task vocabulary; returns the matrices' future places in the run
    directory (written by `_save_inputs` once it exists), the matrices and a coverage record."""
    from twinbench.models.embeddings import EmbeddingSpec, read_vec

    spec = EmbeddingSpec(**dict(cfg.embeddings))
    if spec.vectors is None:
        return {}, {}, {}
    out, matrices, record = {}, {}, {}
    for task, splits in data.items():
        matrix, found = read_vec(spec.vectors, splits.vocab, seed=spec.seed)
        path = str(RunDir(run_dir).embedding(task))
        matrices[task] = matrix
        out[task] = Pretrained(path=path, dim=int(matrix.shape[1]), freeze=spec.freeze)
        record[task] = {"vectors": spec.vectors, "dim": int(matrix.shape[1]), "vocab": len(splits.vocab),
                        "found": found, "freeze": spec.freeze, "seed": spec.seed}
        say(f"embeddings ({task}): {found}/{len(splits.vocab)} vocabulary words found in {spec.vectors}, "
            f"{matrix.shape[1]}-dim, {'frozen' if spec.freeze else 'trainable'}")
    return out, matrices, record


@dataclass(frozen=True)
class TwinBuild:
    """What building one twin leaves for the benchmark and the tables."""

    artifacts: list[Any]
    failures: list[dict[str, Any]]  # results rows of failed exports / variants
    history: Any  # training rows (DataFrame)
    params: Any  # params rows (DataFrame)


def _build_twin_artifacts(cfg: RunConfig, resolved: ResolvedTwin, splits: Any, run_dir: Path, run_id: str,
                          say: Say) -> TwinBuild:
    """Train the twin in both frameworks, save natives, export, derive variants, write parity data."""
    from twinbench.bench.parity.inputs import parity_inputs, save_goldens, save_parity_inputs
    from twinbench.core.rows import export_failure_row
    from twinbench.exporters import ExportFailure, ExportRequest, export_all
    from twinbench.exporters.native import save_native
    from twinbench.exporters.variants import VARIANTS
    from twinbench.models.params import param_table
    from twinbench.models.train import TrainRecipe, train_twins

    twin = resolved.twin
    say(f"training {twin.name} in torch and keras")
    result = train_twins(twin, splits, TrainRecipe(**dict(cfg.training)), progress=say)  # a line per epoch
    history = result.history.copy()
    history.insert(0, "run_id", run_id)

    layout = RunDir(run_dir)
    out_dir = layout.twin(twin.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = list(save_native(twin, result.torch_model, result.keras_model, out_dir, run_dir))
    failures: list[dict[str, Any]] = []
    say(f"exporting {twin.name}: {', '.join(cfg.exporters)}")
    req = ExportRequest(twin=twin, torch_model=result.torch_model, keras_model=result.keras_model,
                        out_dir=out_dir, run_dir=run_dir, opset=cfg.opset,
                        example_seq=int(splits.x_train.shape[1]))
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
    from twinbench.bench.parity.reference_check import save_references

    save_references(twin, result.torch_model, result.keras_model, batches, layout)  # the goldens' own check
    params = param_table(twin)
    params.insert(0, "twin", twin.name)
    params.insert(0, "run_id", run_id)
    return TwinBuild(artifacts, failures, history, params)


def run(cfg: RunConfig, *, say: Say = print, progress: Callable[[int, int, str], None] | None = None,
        resume: str | Path | None = None, wait: bool = True, allow_overlap: bool = False,
        check_only: bool = False) -> RunOutcome | None:
    """Run the whole pipeline; returns where the run directory and reports are.

    `resume`: an interrupted run directory to continue (cfg from `resume.open_for_resume`); its
    complete twin builds and finished cells are kept. `wait` / `allow_overlap`: what to do when
    another benchmark holds this machine's lock (core/benchlock.py). `check_only`: every check
    before the run directory, then None (`twinbench run --check`)."""
    from twinbench.bench.cells import plan_cells
    from twinbench.bench.executors.base import expand_cells
    from twinbench.bench.timing import TimingPlan

    cfg.validate()
    names = [t.name for t in cfg.twins]
    if len(set(names)) != len(names):
        raise ConfigError(f"twins: each twin may appear once, got {names}")
    t0 = time.perf_counter()
    from twinbench.models.registry import get_twin
    from twinbench.core.manifest import new_run_id

    # Everything the user asked for is checked before the run directory exists or training starts.
    from twinbench.preflight import check_onnx_file, preflight

    run_id = cfg.run_id or new_run_id()
    if resume is None:
        inputs = preflight(cfg, run_id)  # out dir writable, run id free, ONNX files usable
    else:
        inputs = [check_onnx_file(path) for path in cfg.onnx]
    cfg = _onnx_only_shapes(cfg, inputs)
    if not wait and not allow_overlap:
        from twinbench.core.benchlock import check_free

        check_free()  # --no-wait: refuse before any training when the machine is busy
    planned_dir = Path(cfg.out_dir) / run_id
    tasks = {spec.name: get_twin(spec.name, **dict(spec.overrides)).task for spec in cfg.twins}
    data = _load_all_data(cfg, set(tasks.values()))
    pretrained, matrices, coverage = _load_pretrained(cfg, data, planned_dir, say)
    twins = [resolve_twin(spec, data[tasks[spec.name]], pretrained.get(tasks[spec.name])) for spec in cfg.twins]
    check_matrix(cfg, twins, _seq_lens(cfg, data))
    if check_only:
        return None
    from twinbench.core.benchlock import bench_lock
    from twinbench.core.liveness import Heartbeat
    from twinbench.resume import load_build, reopen, run_remaining, save_build
    from twinbench.core.manifest import heartbeat

    if resume is None:
        run_dir, manifest = create_run_dir(cfg.out_dir, cfg.to_dict(), run_id)
    else:
        from twinbench.resume import open_for_resume

        run_dir = Path(resume)
        manifest = reopen(run_dir, open_for_resume(run_dir)[1])
    say(f"run directory: {run_dir}")
    beat = Heartbeat(lambda: heartbeat(run_dir, manifest)).start()
    try:
        _save_inputs(run_dir, data, matrices)
        if coverage:
            update_manifest(run_dir, manifest, embeddings=coverage)
        artifacts: list[Any] = []
        failure_rows: list[dict[str, Any]] = []
        histories, param_tables = [], []
        vocab_sizes: dict[str, int] = {}
        for resolved in twins:
            splits = data[resolved.task]
            record = load_build(run_dir, resolved.twin.name) if resume is not None else None
            built = TwinBuild(*record) if record is not None else None
            if built is None:
                built = _build_twin_artifacts(cfg, resolved, splits, run_dir, run_id, say)
                save_build(run_dir, resolved.twin.name, built)
            else:
                say(f"{resolved.twin.name}: artifacts and goldens complete, not rebuilt")
            artifacts += built.artifacts
            failure_rows += built.failures
            histories.append(built.history)
            param_tables.append(built.params)
            vocab_sizes[resolved.twin.name] = len(splits.vocab)
        t_built = time.perf_counter()
        artifacts += _user_onnx_artifacts(cfg, run_dir)

        plan = TimingPlan(**dict(cfg.timing))
        specs, skipped_rows = plan_cells(
            run_dir=run_dir, artifacts=artifacts, runtimes=list(cfg.runtimes), devices=list(cfg.devices),
            batches=list(cfg.batches), seq_lens=_seq_lens(cfg, data), threads=list(cfg.threads), plan=plan,
            settings={k: dict(v) for k, v in cfg.runtime_settings.items()}, twin_modules=list(cfg.twin_modules),
            vocab_sizes=vocab_sizes, parity=cfg.parity, calibration=cfg.calibration,
            scenarios=list(cfg.scenarios), load=dict(cfg.load))
        say(f"benchmarking {len(specs)} cells ({len(skipped_rows)} skipped) in fresh worker processes")
        executor = make_executor(cfg)
        specs = expand_cells(executor, specs)  # one copy of every cell per kind of machine (ray)
        with bench_lock(run_id, run_dir, wait=wait, allow_overlap=allow_overlap, say=say) as lease:
            processes = run_remaining(specs, executor, progress=progress, say=say)
        if lease.overlap:
            update_manifest(run_dir, manifest, overlap={"with": lease.overlap})
        t_bench = time.perf_counter()
        verdict = finish_run(cfg, run_dir, manifest, specs, processes, extra_rows=failure_rows + skipped_rows,
                             histories=histories, param_tables=param_tables, timings={
                                 "build_s": round(t_built - t0, 2), "bench_s": round(t_bench - t_built, 2),
                                 "reference_s": _reference_seconds(run_dir)}, t0=t0)
    except BaseException as exc:
        stopped = isinstance(exc, (KeyboardInterrupt, SystemExit))
        update_manifest(run_dir, manifest, status="interrupted" if stopped else "failed", error=one_line(exc))
        raise
    finally:
        beat.stop()
    from twinbench.reports import build_reports

    md, html = build_reports(run_dir)
    return RunOutcome(run_dir=run_dir, parity_verdict=verdict, report_md=md, report_html=html)


def finish_run(cfg: RunConfig, run_dir: Path, manifest: dict[str, Any], specs: list[Any], processes: Any, *,
               extra_rows: list[dict[str, Any]] = (), histories: list[Any] = (), param_tables: list[Any] = (),
               timings: dict[str, float] | None = None, t0: float | None = None) -> str:
    """From the worker processes' rows to a complete run directory: results (one headline row per
    cell over its processes), load, repeats, rounds, parity and the other tables, then the manifest
    marked complete. `twinbench run` and `twinbench bench` both end here. Returns the parity verdict."""
    import pandas as pd

    from twinbench.bench.load.table import split_load
    from twinbench.bench.parity.table import parity_cross_table, parity_table
    from twinbench.bench.parity.verdict import overall_verdict
    from twinbench.bench.repeats import aggregate
    from twinbench.core.machine import row_fingerprints
    from twinbench.reports.tables import write_table

    run_id = manifest["run_id"]
    specs, processes, load = split_load(specs, processes)  # Server/Offline cells: the load table
    cells, repeats, rounds = aggregate(specs, processes, run_dir)
    results = pd.concat([pd.DataFrame(list(extra_rows)), cells], ignore_index=True)
    for table in (results, repeats, rounds):
        table["run_id"] = run_id
    for table in (results, repeats):  # which machine measured each row (a Ray node's own, else this one)
        table["machine_fingerprint"] = row_fingerprints(table.get("machine_info"), manifest, len(table))
    write_table(results, run_dir, "results")
    if len(load):
        write_table(load.assign(run_id=run_id), run_dir, "load")
    write_table(repeats, run_dir, "repeats")
    write_table(rounds, run_dir, "rounds")
    parity = parity_table(run_dir) if cfg.parity else pd.DataFrame()
    write_table(parity, run_dir, "parity")
    if cfg.parity:  # informational: torch vs keras weights, exporter vs exporter (docs/parity.md)
        write_table(parity_cross_table(run_dir), run_dir, "parity_cross")
    write_table(pd.concat(list(histories), ignore_index=True) if histories else pd.DataFrame(), run_dir, "training")
    write_table(pd.concat(list(param_tables), ignore_index=True) if param_tables else pd.DataFrame(), run_dir,
                "params")
    verdict = overall_verdict(parity)
    _record_overlaps(run_dir, manifest, results)
    timings = dict(timings or {})
    if t0 is not None:
        timings["total_s"] = round(time.perf_counter() - t0, 2)
    update_manifest(run_dir, manifest, status="complete", parity_verdict=verdict, timings=timings)
    from twinbench.reports.history import record_quietly

    record_quietly(run_dir)  # the history store (reports/history.py; TWINBENCH_HISTORY=off skips it)
    return verdict


def _record_overlaps(run_dir: Path, manifest: dict[str, Any], results: Any) -> None:
    """A run that overlapped another benchmark (`--allow-overlap`, either side) says so in its
    manifest and flags its cells with an `overlap` column, rewriting the results table."""
    from twinbench.core.benchlock import overlaps_recorded
    from twinbench.reports.tables import write_table

    others = overlaps_recorded(run_dir)
    if others:
        update_manifest(run_dir, manifest, overlapped_by=others)
    if others or manifest.get("overlap"):
        write_table(results.assign(overlap=True), run_dir, "results")


def _reference_seconds(run_dir: Path) -> float:
    """Seconds spent on the NumPy reference check (inside build_s; docs/parity.md)."""
    from twinbench.bench.parity.reference_check import reference_seconds

    return reference_seconds(run_dir)


def make_executor(cfg: RunConfig) -> Any:
    """The executor named by `[executor] kind` (default "local"; "inprocess" when `isolate` is off),
    given the rest of the `[executor]` section as options."""
    from twinbench.bench.executors import get_executor

    options = dict(cfg.executor)
    kind = options.pop("kind", None) or ("local" if cfg.isolate else "inprocess")
    options.setdefault("timeout_s", cfg.cell_timeout_s)
    if cfg.machines:  # top-level `machines`: the executor places every cell on each kind
        if kind in ("local", "inprocess"):
            raise ConfigError(f"machines: {list(cfg.machines)} needs an executor that places cells on machines "
                              f"(--executor ray), not {kind!r}")
        options.setdefault("machines", list(cfg.machines))
    return get_executor(str(kind), **options)


def _seq_lens(cfg: RunConfig, data: dict[str, Any]) -> list[int]:
    if cfg.seq_lens:
        return list(cfg.seq_lens)
    lens = sorted({int(s.x_train.shape[1]) for s in data.values()})
    return lens or [16]


def _onnx_only_shapes(cfg: RunConfig, inputs: list[dict[str, Any]]) -> RunConfig:
    """An ONNX-only run (no twins) takes the shapes its files fix: a fixed sequence length when
    none was asked (else 16), a fixed batch when the batches are the defaults."""
    import dataclasses

    if cfg.twins or not inputs:
        return cfg
    changes: dict[str, Any] = {}
    fixed_seq = {s["shape"][1] for s in inputs if len(s["shape"]) == 2 and isinstance(s["shape"][1], int)}
    fixed_batch = {s["shape"][0] for s in inputs if len(s["shape"]) == 2 and isinstance(s["shape"][0], int)}
    if not cfg.seq_lens and len(fixed_seq) == 1:
        changes["seq_lens"] = tuple(fixed_seq)
    if cfg.batches == RunConfig().batches and len(fixed_batch) == 1:
        changes["batches"] = tuple(fixed_batch)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _user_onnx_artifacts(cfg: RunConfig, run_dir: Path) -> list[Any]:
    if not cfg.onnx:
        return []
    from twinbench.exporters.user_onnx import from_user_onnx

    return [from_user_onnx(path, run_dir) for path in cfg.onnx]


#: Where a parity re-check writes its cells, beside the run's own `cells/`.
PARITY_CELLS = "parity_only"


def parity_only(run_dir: str | Path, *, runtimes: list[str] | None = None, threads: int = 1,
                settings: dict[str, dict[str, Any]] | None = None, executor: Any = None,
                localize_failures: bool = True, progress: Callable[[int, int, str], None] | None = None,
                only: Any = None) -> tuple[Any, str]:
    """`twinbench parity`: every artifact of a run directory on every CPU runtime, untimed, through
    the same planner, runner and worker as a run; judged by the same parity table.

    Runtime settings are the run's (manifest `config.runtime_settings`) updated by `settings`, so a
    re-check computes in the precision the benchmark did. `only`: artifact names to check (the
    rest stay available to localisation, e.g. `twinbench parity --onnx`). Returns (parity DataFrame, verdict)."""
    import json
    import shutil

    from twinbench.core.atomic import write_json
    from twinbench.bench.cells import make_cell_id, plan_cells
    from twinbench.bench.parity.table import parity_table
    from twinbench.bench.parity.verdict import overall_verdict
    from twinbench.bench.runner import run_cells
    from twinbench.bench.runtimes import RUNTIMES, get_runtime
    from twinbench.exporters.artifact import Artifact

    layout = RunDir(Path(run_dir), PARITY_CELLS)
    if not layout.artifacts.is_dir():
        raise RunDirError(f"{run_dir}: no artifacts/ folder (not a twinbench run directory?)")
    artifacts = []
    for twin_dir in layout.twin_dirs():
        if not (layout.golden(twin_dir.name).is_file() and layout.parity_inputs(twin_dir.name).is_file()):
            continue
        for side in sorted(twin_dir.glob("*.json")):
            try:
                art = Artifact.read_sidecar(side)
            except (OSError, ValueError, TypeError) as exc:
                raise RunDirError(f"{side}: unreadable artifact sidecar ({exc})") from None
            if only is None or art.name in only:
                artifacts.append(art)
    if not artifacts:
        raise RunDirError(f"{layout.artifacts}: no artifacts with golden.npz and parity_inputs.npz")
    names = list(runtimes) if runtimes else sorted(RUNTIMES)
    for name in names:
        get_runtime(name)  # unknown names: one line, exit 2
    try:
        config = json.loads(layout.manifest.read_text()).get("config") or {}
    except (OSError, ValueError):
        config = {}
    all_settings = {k: dict(v) for k, v in (config.get("runtime_settings") or {}).items()}
    for name, values in (settings or {}).items():
        all_settings.setdefault(name, {}).update(values)
    shutil.rmtree(layout.cells, ignore_errors=True)
    layout.cells.mkdir(parents=True)
    seq = [int(config["seq_lens"][0])] if config.get("seq_lens") else [16]
    specs, skipped = plan_cells(layout.root, artifacts, names, ["cpu"], [1], seq, [threads], settings=all_settings,
                                twin_modules=list(config.get("twin_modules") or []), timed=False, cells=PARITY_CELLS)
    for row in skipped:  # judged as SKIP rows by the parity table
        cell_id = make_cell_id(Artifact(name=row["artifact"], kind="onnx", path="", twin=row["twin"],
                                        source="user"), row["runtime"], row["device"] or "cpu", 1, 1, 1) + ".skipped"
        write_json(layout.cell(cell_id).row, row)
    run_cells(specs, executor, progress=progress)
    df = parity_table(layout.root, cells=PARITY_CELLS, localize_failures=localize_failures)
    return df, overall_verdict(df)
