"""Everything a run checks and reads before its run directory exists: the config against the
registries, the user's files, the data and pretrained vectors, each twin resolved once against the
data, and the matrix's shapes against what each twin accepts. `twinbench run --check` is exactly
this stage; `twinbench run` does it first, so a mistake costs a second and one line, not a
training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from twinbench.config import RunConfig, TwinSpec, check_config
from twinbench.core.benchlock import check_free
from twinbench.core.errors import ConfigError
from twinbench.core.layout import RunDir
from twinbench.core.manifest import new_run_id
from twinbench.models.data import DEFAULT_SIZES, load_data
from twinbench.models.embeddings import read_vec
from twinbench.models.registry import Twin, get_twin
from twinbench.preflight import check_onnx_files, preflight
from twinbench.sizes import Footprint, check_cells, check_data, check_training, footprint

Say = Callable[[str], None]


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
    twin: Twin
    task: str


@dataclass(frozen=True)
class Prepared:
    """What the checks leave for the run: the config (shapes of an ONNX-only run filled in), its
    id, the data per task, the pretrained matrices, the resolved twins and the sequence lengths."""

    cfg: RunConfig
    run_id: str
    data: dict[str, Any]
    matrices: dict[str, Any]
    coverage: dict[str, Any]
    twins: list[ResolvedTwin]
    seq_lens: tuple[int, ...]

    @property
    def planned_dir(self) -> Path:
        return Path(self.cfg.out_dir) / self.run_id


def resolve_twin(spec: TwinSpec, declared: Twin, splits: Any, pretrained: Pretrained | None = None) -> ResolvedTwin:
    """Vocabulary, classes/tags, the length field and a pretrained embedding come from the data
    unless the user set them; the twin's own contract (models/registry.py `Twin`, as `declared` by
    the user's overrides: their head etc. decide it) says which."""
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


def artifact_tasks(artifacts: Any) -> set[str]:
    """The tasks of a run directory's twins, from their artifacts' recorded configs (a tag twin's
    config counts tags); user ONNX files have none."""
    return {"tag" if "num_tags" in a.twin_config else "classify" for a in artifacts if a.twin_config}


def seq_lens(cfg: RunConfig, tasks: set[str]) -> tuple[int, ...]:
    """The one rule for the matrix's sequence lengths: the config's, else the data's fixed length of
    every task the twins have (`[data]` / `[tag_data]` max_len), else 16 (an ONNX-only run)."""
    if cfg.seq_lens:
        return tuple(cfg.seq_lens)
    lens = {cfg.data.max_len if task == "classify" else cfg.tag_data.max_len for task in tasks}
    return tuple(sorted(lens)) or (16,)


def check_matrix(cfg: RunConfig, twins: list[ResolvedTwin], lens: tuple[int, ...]) -> None:
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
        for seq in lens:
            problem = rt.twin.seq_len_problem(seq)
            if problem:
                raise ConfigError(f"seq_lens: {problem}")


def onnx_only_shapes(cfg: RunConfig, inputs: list[dict[str, Any]]) -> RunConfig:
    """An ONNX-only run (no twins) takes the shapes its files fix: a fixed sequence length when
    none was asked (else 16), a fixed batch when the batches are the defaults."""
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


def _data_configs(cfg: RunConfig) -> dict[str, Any]:
    return {"classify": cfg.data, "tag": cfg.tag_data}


def _pretrained(cfg: RunConfig, data: dict[str, Any], planned: Path,
                say: Say) -> tuple[dict[str, Pretrained], dict[str, Any], dict[str, Any]]:
    """Read the .vec file once per task vocabulary; returns the matrices' future places in the run
    directory (written by the build stage once it exists), the matrices and a coverage record."""
    spec = cfg.embeddings
    if spec.vectors is None:
        return {}, {}, {}
    out, matrices, record = {}, {}, {}
    for task, splits in data.items():
        matrix, found = read_vec(spec.vectors, splits.vocab, seed=spec.seed)
        matrices[task] = matrix
        out[task] = Pretrained(path=str(RunDir(planned).embedding(task)), dim=int(matrix.shape[1]), freeze=spec.freeze)
        record[task] = {"vectors": spec.vectors, "dim": int(matrix.shape[1]), "vocab": len(splits.vocab),
                        "found": found, "freeze": spec.freeze, "seed": spec.seed}
        say(f"embeddings ({task}): {found}/{len(splits.vocab)} vocabulary words found in {spec.vectors}, "
            f"{matrix.shape[1]}-dim, {'frozen' if spec.freeze else 'trainable'}")
    return out, matrices, record


def prepare(cfg: RunConfig, *, say: Say = print, resume: bool = False, wait: bool = True,
            allow_overlap: bool = False) -> Prepared:
    """Every check before the run directory exists (see the module docstring). `resume`: the run
    directory exists already (its id and out dir are not checked again). Without `wait` (and
    without `allow_overlap`) a busy machine is refused now, before any training."""
    declared = check_config(cfg)
    run_id = cfg.run_id or new_run_id()
    inputs = check_onnx_files(cfg) if resume else preflight(cfg, run_id)
    cfg = onnx_only_shapes(cfg, inputs)
    if not wait and not allow_overlap:
        check_free()  # --no-wait: refuse before any training when the machine is busy
    tasks = {name: twin.task for name, twin in declared.items()}
    data = {task: _load(_data_configs(cfg)[task], "data" if task == "classify" else "tag_data")
            for task in sorted(set(tasks.values()))}
    planned = Path(cfg.out_dir) / run_id
    pretrained, matrices, coverage = _pretrained(cfg, data, planned, say)
    twins = [resolve_twin(spec, declared[spec.name], data[tasks[spec.name]], pretrained.get(tasks[spec.name]))
             for spec in cfg.twins]
    lens = seq_lens(cfg, set(tasks.values()))
    check_matrix(cfg, twins, lens)
    check_memory(cfg, twins, lens, data, inputs)
    return Prepared(cfg, run_id, data, matrices, coverage, twins, lens)


def _load(data_cfg: Any, where: str) -> Any:
    """The task's data, refused in one line when encoding it cannot fit this machine's memory."""
    check_data(data_cfg.size or DEFAULT_SIZES.get(data_cfg.source), data_cfg.max_len, where)
    try:
        return load_data(data_cfg)
    except MemoryError:
        raise ConfigError(f"{where}: the data does not fit in memory once encoded (max_len {data_cfg.max_len}); "
                          f"use a smaller max_len or size") from None


def check_memory(cfg: RunConfig, twins: list[ResolvedTwin], lens: tuple[int, ...], data: dict[str, Any],
                 inputs: list[dict[str, Any]]) -> None:
    """Sizes that cannot fit this machine's memory are refused before any work (twinbench/sizes.py):
    each twin's cells at the largest batch x sequence length, its training, and each ONNX file's
    cells (its weights are the file's bytes)."""
    feet = [(rt.twin.name, footprint(dataclasses.asdict(rt.twin.config))) for rt in twins]
    for path in cfg.onnx:
        size = Path(path).stat().st_size if Path(path).is_file() else 0
        feet.append((Path(path).name, Footprint(params=size // 4, width=1, layers=0)))
    check_cells(feet, cfg.batches, lens)
    for rt, (name, fp) in zip(twins, feet):
        splits = data[rt.task]
        check_training([(name, fp)], cfg.training.batch_size, len(splits.x_train), int(splits.x_train.shape[1]))
