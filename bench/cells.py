"""Cells: one point of the matrix (artifact x runtime x device x batch x seq_len x threads).

`plan_cells` holds the one nested loop of the program. Everything a worker needs travels in a
`CellSpec`, a frozen JSON-able record, so a cell can be re-run from its spec file alone, on this
machine or another: `CellSpec.files()` lists every run-directory file the worker reads, and a
worker reads nothing else. Timed cells (a `twinbench run`) and untimed ones (`twinbench parity`)
are the same spec with `timed` on or off, run by the same runner."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from twinbench.bench.feeds import FIRST_WORD, specs as input_specs
from twinbench.core.rows import artifact_key, skipped_row
from twinbench.bench.load.settings import LoadSettings, cell_batches, cell_suffix, check_scenarios
from twinbench.bench.timing import TimingPlan
from twinbench.core.errors import ConfigError
from twinbench.core.keys import CellKey
from twinbench.exporters.artifact import Artifact
from twinbench.exporters.onnx_inputs import InputSpec
from twinbench.core.layout import RunDir
from twinbench.bench.calibration import CALIBRATION_RUNTIME, calibration_artifact
from twinbench.bench.runtimes import get_runtime, runtime_devices, unavailable_reason
from twinbench.models.registry import get_twin, load_twin_module

#: When no vocabulary size is known (a user's ONNX file), every id is 2, valid for any embedding.
FALLBACK_VOCAB = 3


@dataclass(frozen=True)
class CellSpec:
    """Everything one worker process needs. Paths inside `artifact` are relative to `run_dir`.
    `extra_modules` are imported by the worker before looking up the runtime (user or test
    runtimes registered with `register_runtime`). `inputs`: the role of each input of a file with
    several (token ids, mask, ...; bench/feeds.py makes their values); empty for a twin's one
    `tokens` input."""

    cell_id: str
    run_dir: str
    artifact: dict[str, Any]
    runtime: str
    device: str
    batch: int
    seq_len: int
    threads: int
    plan: TimingPlan = field(default_factory=TimingPlan)  # built once from the config, carried as is
    settings: dict[str, Any] = field(default_factory=dict)
    twin_modules: tuple[str, ...] = ()
    parity_inputs: str | None = None
    input_seed: int = 0
    vocab_size: int = FALLBACK_VOCAB
    extra_modules: tuple[str, ...] = ()
    timed: bool = True
    repeat: int = 0  # which of the cell's `plan.repeats` worker processes this is
    cells: str = "cells"  # the run-directory folder the cell's files go to ("parity_only" for re-checks)
    flops_source: str | None = None  # an fp32 ONNX file of the same weights to count FLOPs on
    scenario: str = "single-stream"  # or "server" / "offline": run through MLPerf LoadGen (bench/load/)
    load: dict[str, Any] = field(default_factory=dict)  # the run's [load] settings (bench.load.LoadSettings)
    machine: str = ""  # the kind of machine (an executor resource tag) this copy of the cell is for
    base_id: str = ""  # the cell's id without its repeat suffix: what its processes are grouped by
    inputs: tuple[InputSpec, ...] = ()

    def __post_init__(self) -> None:
        for name in ("batch", "seq_len", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"cell {self.cell_id}: {name} must be a positive integer, got {v!r}")
        if self.vocab_size < FIRST_WORD + 1:
            raise ConfigError(f"cell {self.cell_id}: vocab_size must be >= {FIRST_WORD + 1}, got {self.vocab_size}")
        check_scenarios([self.scenario])
        if not isinstance(self.plan, TimingPlan):
            object.__setattr__(self, "plan", TimingPlan.from_dict(self.plan or {}))
        if not self.base_id:
            object.__setattr__(self, "base_id", self.cell_id)
        if not all(isinstance(i, InputSpec) for i in self.inputs):
            object.__setattr__(self, "inputs", input_specs(self.inputs))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["twin_modules"] = list(self.twin_modules)
        d["extra_modules"] = list(self.extra_modules)
        d["inputs"] = [i.to_dict() for i in self.inputs]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CellSpec":
        d = dict(d)
        for name in ("twin_modules", "extra_modules", "inputs"):
            d[name] = tuple(d.get(name) or ())
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"cell spec: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @property
    def art(self) -> Artifact:
        return Artifact.from_dict(self.artifact)

    @property
    def group(self) -> tuple[str, str, str]:
        """Which cell this process measures: its processes share it (run directory, folder, base id)."""
        return (str(self.run_dir), self.cells, self.base_id)

    @property
    def key(self) -> CellKey:
        """The cell's identity in every table (core/keys.py), the machine kind included."""
        return CellKey.of({**self.key_row(), "machine": self.machine})

    def key_row(self) -> dict[str, Any]:
        """The schema.KEY columns of this cell's row (run_id is filled in by the pipeline)."""
        return artifact_key(self.art, self.runtime, self.device, self.batch, self.seq_len, self.threads)

    def files(self) -> list[str]:
        """Every run-directory file (relative path) this cell's worker reads: what an executor on
        another machine must ship with the spec."""
        art = self.art
        out = [art.path]
        for extra in art.meta.get("extra_files") or ():
            out.append(str(extra))
        matrix = art.twin_config.get("embedding_matrix")
        if art.kind in ("torch", "keras") and isinstance(matrix, str) and not Path(matrix).is_absolute():
            out.append(matrix)
        for rel in (self.parity_inputs, self.flops_source):
            if rel:
                out.append(rel)
        return list(dict.fromkeys(out))


def skipped_artifact_row(art: Artifact, runtime: str, device: str, reason: str) -> dict[str, Any]:
    return skipped_row(artifact_key(art, runtime, device), reason)


def make_cell_id(art: Artifact, runtime: str, device: str, batch: int, seq_len: int, threads: int) -> str:
    """Readable and file-name safe; a short hash keeps ids unique when names had to be cleaned."""
    raw = f"{art.twin}.{art.name}.{runtime}.{device}.b{batch}.s{seq_len}.t{threads}"
    clean = re.sub(r"[^A-Za-z0-9_.+-]", "_", raw)
    if clean != raw:
        clean += "-" + hashlib.sha1(raw.encode()).hexdigest()[:6]
    return clean


def _flops_source(art: Artifact, siblings: Mapping[str, list[Artifact]]) -> str | None:
    """The fp32 ONNX file FLOPs are counted on: the artifact itself, or for a native model a
    sibling export of the same twin (same weights, same arithmetic)."""
    if art.kind == "onnx":
        return art.path
    onnx = sorted((a for a in siblings.get(art.twin, []) if a.kind == "onnx" and a.precision == "fp32"),
                  key=lambda a: a.path)
    return onnx[0].path if onnx else None


def _calibration(run_dir: Path, seq_len: int, threads: int,
                 common: Mapping[str, Any]) -> tuple[list[CellSpec], list[dict[str, Any]]]:
    """The harness-overhead cell (a trivial ONNX Add on ort-cpu), or its skipped row."""
    art = calibration_artifact(run_dir)
    reason = unavailable_reason(get_runtime(CALIBRATION_RUNTIME))
    if reason:
        return [], [skipped_artifact_row(art, CALIBRATION_RUNTIME, "cpu", reason)]
    return [CellSpec(cell_id=make_cell_id(art, CALIBRATION_RUNTIME, "cpu", 1, seq_len, threads), artifact=art.to_dict(),
                     runtime=CALIBRATION_RUNTIME, device="cpu", batch=1, seq_len=seq_len, threads=threads,
                     settings={}, parity_inputs=None, **dict(common))], []


def fixed_length(art: Artifact, twin_modules: Iterable[str] = ()) -> int | None:
    """The one sequence length an artifact accepts, or None when any length works."""
    for source in (art.meta, art.twin_config):
        v = source.get("fixed_length")
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    if art.kind in ("torch", "keras") or art.twin_config:
        try:
            for mod in twin_modules:
                load_twin_module(mod)
            return get_twin(art.twin, **art.twin_config).fixed_length
        except Exception:  # an unknown twin (user ONNX) simply has no declared length
            return None
    return None


def _vocab(art: Artifact, vocab_size: int | None, vocab_sizes: Mapping[str, int] | None) -> int:
    for v in (art.twin_config.get("vocab_size"), (vocab_sizes or {}).get(art.twin), vocab_size,
              art.meta.get("vocab_size")):
        if isinstance(v, int) and not isinstance(v, bool) and v > FIRST_WORD:
            return v
    return FALLBACK_VOCAB


def parity_inputs_of(art: Artifact, layout: RunDir) -> str | None:
    """The parity inputs file an artifact is checked on (relative to the run directory): a user
    file's own (`meta["parity_inputs"]`, bench/parity/user.py), else its twin's; None when absent."""
    own = art.meta.get("parity_inputs")
    if isinstance(own, str) and (layout.root / own).is_file():
        return own
    path = layout.parity_inputs(art.twin)
    return layout.rel(path) if path.is_file() else None


def _as_artifact(a: Any) -> Artifact:
    if isinstance(a, Artifact):
        return a
    if isinstance(a, Mapping):
        return Artifact.from_dict(dict(a))
    raise ConfigError(f"artifacts: expected Artifact or dict, got {type(a).__name__}")


def plan_cells(run_dir: str | Path, artifacts: Iterable[Any], runtimes: Iterable[str], devices: Iterable[str],
               batches: Iterable[int], seq_lens: Iterable[int], threads: Iterable[int],
               plan: TimingPlan | Mapping[str, Any] | None = None,
               settings: Mapping[str, Mapping[str, Any]] | None = None, twin_modules: Iterable[str] = (),
               vocab_size: int | None = None, *, vocab_sizes: Mapping[str, int] | None = None,
               parity: bool = True, calibration: bool = False, input_seed: int = 0,
               extra_modules: Iterable[str] = (), timed: bool = True,
               cells: str = "cells", scenarios: Iterable[str] = ("single-stream",),
               load: Mapping[str, Any] | None = None) -> tuple[list[CellSpec], list[dict[str, Any]]]:
    """(cell specs to run, skipped rows). An artifact only meets runtimes accepting its kind; an
    unavailable runtime or a missing device gives a `skipped` row with the reason; fixed-length
    artifacts get their own length only; the first cell of each artifact x runtime x device also
    runs the twin's parity inputs (when `parity`). With `timed` off (a parity re-check) each
    artifact x runtime x device is one untimed cell that only runs the parity inputs."""
    run_dir = Path(run_dir)
    plan = plan if isinstance(plan, TimingPlan) else TimingPlan.from_dict(plan or {})
    settings = settings or {}
    twin_modules, extra_modules = tuple(twin_modules), tuple(extra_modules)
    devices, batches, seq_lens, threads = list(devices), list(batches), list(seq_lens), list(threads)
    if not seq_lens:
        raise ConfigError("seq_lens: at least one sequence length is needed")
    rts = [get_runtime(name) for name in runtimes]
    specs: list[CellSpec] = []
    skipped: list[dict[str, Any]] = []
    common = dict(run_dir=str(run_dir), plan=plan, twin_modules=twin_modules, input_seed=input_seed,
                  extra_modules=extra_modules, timed=timed, cells=cells)
    artifacts = [_as_artifact(a) for a in artifacts]
    siblings: dict[str, list[Artifact]] = {}
    for art in artifacts:
        siblings.setdefault(art.twin, []).append(art)
    scenarios, load_settings = check_scenarios(scenarios), LoadSettings.from_mapping(load)
    if not timed:
        batches, threads, calibration, scenarios = batches[:1], threads[:1], False, ("single-stream",)
    if calibration and timed:
        specs, skipped = _calibration(run_dir, seq_lens[0], threads[0] if threads else 1, common)
    layout = RunDir(run_dir)
    for art in artifacts:
        fixed = fixed_length(art, twin_modules)
        lens = [fixed] if fixed else list(dict.fromkeys(seq_lens))[: 1 if not timed else None]
        vocab = _vocab(art, vocab_size, vocab_sizes)
        parity_path = parity_inputs_of(art, layout)
        roles = input_specs(art.meta.get("input_roles") or ())
        has_parity = parity and parity_path is not None
        if not timed and not has_parity:
            continue  # nothing to check without the twin's parity inputs
        flops = _flops_source(art, siblings) if timed else None
        for rt in rts:
            if art.kind not in rt.accepts:
                continue
            reason = unavailable_reason(rt)
            if reason:
                skipped.append(skipped_artifact_row(art, rt.name, ",".join(devices), reason))
                continue
            present = runtime_devices(rt)
            for device in devices:
                if device not in present:
                    skipped.append(skipped_artifact_row(art, rt.name, device, f"{rt.name} has no device {device!r} "
                                                        f"here (present: {', '.join(present) or 'none'})"))
                    continue
                first = True
                for scenario in scenarios:
                    for batch in cell_batches(scenario, batches, load_settings):
                        for seq in lens:
                            for n in threads:
                                specs.append(CellSpec(
                                    cell_id=make_cell_id(art, rt.name, device, batch, seq, n) + cell_suffix(scenario),
                                    artifact=art.to_dict(), runtime=rt.name, device=device, batch=batch, seq_len=seq,
                                    threads=n, settings=dict(settings.get(rt.name, {})),
                                    parity_inputs=parity_path if (first and has_parity) else None,
                                    vocab_size=vocab, flops_source=flops, scenario=scenario,
                                    load=dict(load or {}), inputs=roles, **common))
                                first = False
    return with_repeats(specs, plan.repeats if timed else 1), skipped


def with_repeats(specs: list[CellSpec], repeats: int) -> list[CellSpec]:
    """Each cell `repeats` times, interleaved round-robin (all cells once, then all again, ...), so
    drift and neighbours land on every cell alike. Repeat r > 0 has id `<cell_id>.r<r>` and no parity
    inputs (outputs do not depend on the process)."""
    out = list(specs)
    for r in range(1, repeats):
        out += [dataclasses.replace(s, repeat=r, cell_id=f"{s.cell_id}.r{r}", base_id=s.cell_id, parity_inputs=None)
                for s in specs
                if s.scenario == "single-stream"]  # a LoadGen cell is its own series of runs
    return out
