"""Run configuration: one frozen, typed `RunConfig`, built once from defaults, a TOML/JSON file and
the command line, with every value checked when it is built.

Each section is the typed object of the stage that owns it — `[data]` a `models.data.DataConfig`,
`[training]` a `models.train.TrainRecipe`, `[timing]` a `bench.timing.TimingPlan`, `[load]` a
`bench.load.settings.LoadSettings`, `[executor]` the executor's own options schema, each
`[runtime_settings.<name>]` the runtime's own settings schema — so no stage re-reads a dict.
`check_config` adds what needs the registries (twin, exporter, variant and runtime names) and the
cross-field rules (timing windows within the cell timeout, machines only with an executor that
places cells). `twinbench run --check` runs exactly `load_config` + `check_config` + the file
checks, as `twinbench run` does before it trains anything (twinbench/commands/run.py).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from twinbench.bench.executors.base import EXECUTORS, executor_options
from twinbench.bench.load.settings import LOAD_SCENARIOS, LoadSettings
from twinbench.bench.parity.user import OnnxReference
from twinbench.bench.runtimes import RUNTIMES
from twinbench.bench.timing import TimingPlan
from twinbench.core.errors import ConfigError, DataError, RunDirError
from twinbench.core.manifest import read_manifest
from twinbench.core.typed import build, construct, convert_field, number, to_plain
from twinbench.exporters.onnx_inputs import InputRole
from twinbench.exporters.registry import EXPORTERS, VARIANTS, check_opset
from twinbench.models.data import DataConfig
from twinbench.models.embeddings import EmbeddingSpec
from twinbench.models.registry import Twin, get_twin, load_twin_module
from twinbench.models.train.recipe import TrainRecipe
from twinbench.overrides import apply_sets
from twinbench.presets import preset_config

DEFAULT_EXPORTERS = ("torch-dynamo", "torch-script", "tf2onnx")
DEFAULT_RUNTIMES = ("torch", "tf-function", "keras-eager", "ort-cpu", "openvino")
#: Largest sizes a cell may ask for (beyond them an input alone would not fit a machine's memory).
MAX_BATCH, MAX_SEQ_LEN, MAX_THREADS = 1 << 20, 1 << 20, 1024
Scenario = Literal["single-stream", "server", "offline"]
Device = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class TwinSpec:
    """A twin by registry name with config overrides (sizes, heads, ...)."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutorChoice:
    """`[executor]`: which executor runs the cells (`kind`) and its typed options. `given` keeps
    what the user wrote (the manifest records that, not every default)."""

    kind: str = "local"
    options: Any = None
    given: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def values(self, cell_timeout_s: float) -> dict[str, Any]:
        """The options as given, `timeout_s` defaulting to the run's cell timeout."""
        return {"timeout_s": cell_timeout_s, **{k: v for k, v in self.given.items() if k != "kind"}}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.given)} if self.given or self.kind != "local" else {}


def _training() -> TrainRecipe:
    return TrainRecipe(epochs=10, batch_size=32)


def _tag_data() -> DataConfig:
    return DataConfig(source="synthetic-pos", size=600, task="tag")


def _timing() -> TimingPlan:
    return TimingPlan(min_iters=30, min_s=0.3, max_s=5.0, repeats=3)


@dataclass(frozen=True)
class RunConfig:
    """Everything one `twinbench run` does. Defaults are the built-in demo: the lstm twin on the
    built-in corpus, three exporters, the five CPU runtimes, finishing in a few minutes on 2 cores."""

    twins: tuple[TwinSpec, ...] = (TwinSpec("lstm"),)
    twin_modules: tuple[str, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    tag_data: DataConfig = field(default_factory=_tag_data)
    embeddings: EmbeddingSpec = field(default_factory=EmbeddingSpec)
    training: TrainRecipe = field(default_factory=_training)
    exporters: tuple[str, ...] = DEFAULT_EXPORTERS
    variants: tuple[str, ...] = ()
    onnx: tuple[str, ...] = ()
    onnx_inputs: dict[str, InputRole] = field(default_factory=dict)  # input name -> role, for --onnx files
    onnx_reference: OnnxReference = field(default_factory=OnnxReference)  # what judges --onnx files
    opset: int = number(18, ge=7, le=25)
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    runtime_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: tuple[Device, ...] = ("cpu",)
    batches: tuple[int, ...] = number((1, 32), ge=1, le=MAX_BATCH)
    seq_lens: tuple[int, ...] = number((), ge=1, le=MAX_SEQ_LEN)  # empty: the data's max_len
    threads: tuple[int, ...] = number((1,), ge=1, le=MAX_THREADS)
    timing: TimingPlan = field(default_factory=_timing)
    scenarios: tuple[Scenario, ...] = ("single-stream",)
    load: LoadSettings = field(default_factory=LoadSettings)
    executor: ExecutorChoice = field(default_factory=ExecutorChoice)
    machines: tuple[str, ...] = ()  # executor resource tags; every cell runs once on each kind of machine
    parity: bool = True
    calibration: bool = True
    isolate: bool = True
    cell_timeout_s: float = number(300.0, gt=0, le=7 * 24 * 3600)
    out_dir: str = "runs"
    run_id: str | None = None

    def __post_init__(self) -> None:
        if not self.twins and not self.onnx:
            raise ConfigError("twins: at least one twin (or an --onnx file) is needed")
        names = [t.name for t in self.twins]
        if len(set(names)) != len(names):
            raise ConfigError(f"twins: each twin may appear once, got {names}")
        for name in ("runtimes", "batches", "threads", "scenarios", "devices"):
            if not getattr(self, name):
                raise ConfigError(f"{name}: at least one value is needed")
        for name in ("twin_modules", "exporters", "variants", "onnx", "runtimes", "machines"):
            bad = [v for v in getattr(self, name) if not v]
            if bad:
                raise ConfigError(f"{name}: every entry must be a non-empty string, got {bad[0]!r}")
        if not self.out_dir:
            raise ConfigError("out_dir: must not be empty")

    @property
    def executor_kind(self) -> str:
        return self.executor.kind

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data that `config_from_mapping` turns back into this very config (the
        manifest's `config`)."""
        d = {f.name: to_plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        d["twins"] = [{"name": t.name, **dict(t.overrides)} for t in self.twins]
        d["executor"] = self.executor.to_dict()
        return d


#: Sections that are typed objects built from a table merged over the default's values.
SECTIONS: dict[str, type] = {"data": DataConfig, "tag_data": DataConfig, "embeddings": EmbeddingSpec,
                             "training": TrainRecipe, "timing": TimingPlan, "load": LoadSettings,
                             "onnx_reference": OnnxReference}
#: Every table-valued key (the sections, the executor, the runtime settings, the ONNX input roles).
TABLES = {*SECTIONS, "executor", "runtime_settings", "onnx_inputs"}


def _parse_twins(value: Any) -> tuple[TwinSpec, ...]:
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError("twins: expected a list of names or tables with a 'name' key")
    specs = []
    for item in value:
        if isinstance(item, TwinSpec):
            specs.append(item)
        elif isinstance(item, str) and item:
            specs.append(TwinSpec(item))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
            specs.append(TwinSpec(item["name"], {k: v for k, v in item.items() if k != "name"}))
        else:
            raise ConfigError(f"twins: bad entry {item!r} (need a name or a table with 'name')")
    return tuple(specs)


def _runtime_settings(value: Any) -> dict[str, dict[str, Any]]:
    """Each `[runtime_settings.<name>]` checked by the schema runtime `<name>` declares."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"runtime_settings: expected a table of tables, got {type(value).__name__}")
    out = {}
    for name, values in value.items():
        if name not in RUNTIMES:
            raise ConfigError(f"runtime_settings: unknown runtime {name!r} (known: {', '.join(RUNTIMES.names())})")
        if not isinstance(values, Mapping):
            raise ConfigError(f"runtime_settings.{name}: expected a table, got {type(values).__name__}")
        RUNTIMES.get(name).check_settings(values)
        out[str(name)] = dict(values)
    return out


def _executor(given: Mapping[str, Any], isolate: bool, cell_timeout_s: float) -> ExecutorChoice:
    """`[executor]`: `kind` (default "local", "inprocess" when `isolate` is off) and the rest as the
    options that executor declares; `timeout_s` defaults to the run's `cell_timeout_s`."""
    if not isinstance(given, Mapping):
        raise ConfigError(f"executor: expected a table, got {type(given).__name__}")
    kind = given.get("kind") or ("local" if isolate else "inprocess")
    if not isinstance(kind, str):
        raise ConfigError(f"executor.kind: expected a string, got {kind!r}")
    choice = ExecutorChoice(kind, None, dict(given))
    if kind not in EXECUTORS:  # perhaps a user's executor module (twin_modules): check_config decides
        return choice
    return dataclasses.replace(choice, options=executor_options(kind, choice.values(cell_timeout_s)))


#: Executor options a resumed run keeps from its own record: how long a cell may take, never where it runs.
_KEPT_EXECUTOR_OPTIONS = ("timeout_s",)


def with_placement(cfg: RunConfig, placement: Mapping[str, Any] | None) -> RunConfig:
    """`cfg` with where its cells run chosen by this invocation alone (`--executor`, `--ray-address`):
    a run directory's `[executor]` (a cluster address) is never taken, only its cell timeout; its
    `machines` tags stay only with an executor that places cells (`run --resume`)."""
    kept = {k: v for k, v in cfg.executor.given.items() if k in _KEPT_EXECUTOR_OPTIONS}
    choice = _executor({**kept, **dict(placement or {})}, cfg.isolate, cfg.cell_timeout_s)
    machines = cfg.machines if choice.kind not in ("local", "inprocess") else ()
    return dataclasses.replace(cfg, executor=choice, machines=machines)


def config_from_mapping(raw: Mapping[str, Any], base: RunConfig | None = None, *, where: str = "") -> RunConfig:
    """Merge a parsed mapping over `base` (the defaults) into a checked RunConfig. Tables merge key
    by key over the base's section; unknown keys and bad values are one ConfigError line."""
    base = base or RunConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where or 'config'}: the top level must be a table")
    names = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(str(k) for k in raw if k not in names)
    if unknown:
        raise ConfigError(f"{where}unknown config key(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in dataclasses.fields(RunConfig)}
    given = {k: v for k, v in raw.items() if v is not None}
    for key, value in given.items():
        if key == "twins":
            values[key] = _parse_twins(value)
        elif key in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
            values[key] = build(SECTIONS[key], {**to_plain(getattr(base, key)), **value}, key)
        elif key == "runtime_settings":
            merged = {k: dict(v) for k, v in base.runtime_settings.items()}
            for name, table in (value.items() if isinstance(value, Mapping) else [("", value)]):
                merged[name] = {**merged.get(name, {}), **table} if isinstance(table, Mapping) else table
            values[key] = _runtime_settings(merged if isinstance(value, Mapping) else value)
        elif key != "executor":
            if isinstance(value, list) or (key in ("batches", "seq_lens", "threads") and isinstance(value, int)):
                value = tuple(value) if isinstance(value, list) else (value,)
            if key in ("twin_modules", "exporters", "variants", "onnx", "runtimes", "devices", "scenarios",
                       "machines") and isinstance(value, str):
                value = (value,)
            values[key] = convert_field(RunConfig, key, value, key)
    executor = given.get("executor")
    merged_exec = {**base.executor.given, **(executor if isinstance(executor, Mapping) else {})}
    if executor is not None and not isinstance(executor, Mapping):
        raise ConfigError(f"executor: expected a table, got {type(executor).__name__}")
    values["executor"] = _executor(merged_exec, values["isolate"], values["cell_timeout_s"])
    return construct(RunConfig, values, "")


def check_config(cfg: RunConfig) -> dict[str, Twin]:
    """What needs the registries, and the rules across sections: every name known (twin modules
    imported first), each twin buildable with its overrides, each exporter able to write the opset,
    machines only with an executor that places cells, and every time window within the cell's
    timeout. Called by `run --check` and by `run` itself, before any training. Returns each twin as
    the user declared it (before the data sets its sizes), built once here."""
    for mod in cfg.twin_modules:
        load_twin_module(mod)
    if cfg.executor.options is None:  # a user's executor: registered by the modules just imported
        EXECUTORS.get(cfg.executor.kind)  # unknown: one line naming the known ones
        executor_options(cfg.executor.kind, cfg.executor.values(cfg.cell_timeout_s))
    declared = {spec.name: get_twin(spec.name, **dict(spec.overrides)) for spec in cfg.twins}
    for kind, registry, names in (("exporter", EXPORTERS, cfg.exporters), ("variant", VARIANTS, cfg.variants),
                                  ("runtime", RUNTIMES, (*cfg.runtimes, cfg.onnx_reference.runtime))):
        for name in names:
            registry.get(name)
    if cfg.twins:
        for name in cfg.exporters:
            check_opset(name, cfg.opset)
    if cfg.machines and cfg.executor.kind in ("local", "inprocess"):
        raise ConfigError(f"machines: {list(cfg.machines)} needs an executor that places cells on machines "
                          f"(--executor ray), not {cfg.executor.kind!r}")
    _check_windows(cfg)
    vectors = cfg.embeddings.vectors
    if vectors is not None and not Path(vectors).is_file():
        raise DataError(f"embeddings: vectors: no such file {vectors!r}")
    for path in cfg.onnx:
        if not Path(path).is_file():
            raise ConfigError(f"onnx: no such file {path!r}")
    return declared


def _check_windows(cfg: RunConfig) -> None:
    """A worker process must be able to finish inside its timeout: its warm-up and measuring window
    (and a load scenario's LoadGen runs) may take at most half of it, the rest being left for
    loading the model and its parity batches. A window longer than the timeout would only ever
    produce timed-out cells, after the training."""
    timeout = float(getattr(cfg.executor.options, "timeout_s", cfg.cell_timeout_s))
    t = cfg.timing
    need, what = t.warmup_s + t.max_s, "timing.warmup_s + timing.max_s"
    if any(s in LOAD_SCENARIOS for s in cfg.scenarios):
        load = cfg.load
        runs = 0.0
        if "server" in cfg.scenarios:
            runs += load.search_s + 2 * load.duration_s
            if load.qps is not None:  # the run at the target rate, stopped at its limit when it cannot keep up
                runs += load.limit_s("server", load.qps)
        if "offline" in cfg.scenarios:
            runs += 2 * len(load.streams) * len(load.max_batch) * load.duration_s
        need, what = max(need, runs), "the load scenarios' LoadGen runs (load.search_s, duration_s, ...)"
    if need > timeout / 2:
        raise ConfigError(f"{what}: {need:g} s leaves too little of the cell timeout ({timeout:g} s, "
                          f"cell_timeout_s or executor.timeout_s): at most half of it; raise the timeout "
                          f"or shorten the window")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML (.toml) or JSON (.json) file; any failure is one ConfigError line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} is unreadable: {exc}") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid {p.suffix.lstrip('.') or 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r}: the top level must be a table")
    return data


def _anchored(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
        return str((base / value).resolve())
    if isinstance(value, str):
        return str(Path(value).expanduser())
    return value


def anchor_paths(raw: Mapping[str, Any], base: str | Path) -> dict[str, Any]:
    """File paths in a config file are relative to that file, so a config works from any folder:
    `onnx`, `twin_modules` given as files (`.py` or with a `/`; dotted module names stay),
    `data.path` / `tag_data.path` (a string or a class -> file table) and `embeddings.vectors`.
    `out_dir` stays relative to the current folder, like `--out` (docs/reliability.md)."""
    base = Path(base).resolve()
    out = dict(raw)
    if isinstance(out.get("onnx"), (str, list)):
        items = out["onnx"] if isinstance(out["onnx"], list) else [out["onnx"]]
        out["onnx"] = [_anchored(v, base) for v in items]
    if isinstance(out.get("twin_modules"), (str, list)):
        items = out["twin_modules"] if isinstance(out["twin_modules"], list) else [out["twin_modules"]]
        out["twin_modules"] = [_anchored(v, base) if isinstance(v, str) and (v.endswith(".py") or "/" in v) else v
                               for v in items]
    for section in ("data", "tag_data"):
        table = out.get(section)
        if isinstance(table, Mapping) and "path" in table:
            where = table["path"]
            if isinstance(where, Mapping):
                where = {k: _anchored(v, base) for k, v in where.items()}
            out[section] = {**table, "path": _anchored(where, base)}
    emb = out.get("embeddings")
    if isinstance(emb, Mapping) and "vectors" in emb:
        out["embeddings"] = {**emb, "vectors": _anchored(emb["vectors"], base)}
    ref = out.get("onnx_reference")
    if isinstance(ref, Mapping):
        out["onnx_reference"] = {**ref, **{k: _anchored(ref[k], base) for k in ("onnx", "golden") if k in ref}}
    return out


def _layered(base: Mapping[str, Any], top: Mapping[str, Any], *, skip_empty: bool = True) -> dict[str, Any]:
    """`top` over `base`; tables merge key by key; with `skip_empty`, empty values in `top` (options
    not given) are ignored, otherwise they count (`twins = []` in a file)."""
    merged = dict(base)
    for key, value in top.items():
        if skip_empty and value in (None, (), []):
            continue
        if key in TABLES and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = {**merged[key], **value}
        merged[key] = value
    return merged


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None, *,
                sets: Sequence[str] = (), preset: str | None = None) -> RunConfig:
    """Defaults, then a named size preset (twinbench/presets.py), then the file (if any), then its
    `--set key.sub=value` items (twinbench/overrides.py), then CLI overrides (None values are
    ignored), checked as one mapping (so `twins = []` in a file with `--onnx` on the command line is
    an ONNX-only run). ONNX files given without any twin (file or `-t`) benchmark just those files:
    no default twin."""
    raw = anchor_paths(read_config_file(path), Path(path).parent) if path is not None else {}
    merged = _layered(_layered(preset_config(preset) if preset else {}, apply_sets(raw, sets), skip_empty=False),
                      overrides or {})
    if merged.get("onnx") and "twins" not in merged:
        merged["twins"] = []
    return config_from_mapping(merged, RunConfig())


def config_from_manifest(manifest: Any, *, anchor: bool = False) -> RunConfig:
    """The typed config a run directory recorded (its manifest's `config`), checked like a config
    file: a bad value is one RunDirError line naming the manifest and the field. `anchor`: resolve
    the command-line paths it holds against the folder they were given in (`--resume`)."""
    raw = dict(manifest.config)
    if anchor:
        raw = anchor_paths(raw, manifest.cwd or ".")
    try:
        return config_from_mapping(raw)
    except ConfigError as exc:
        raise RunDirError(f"{manifest.path}: config: {exc}") from None


def check_recorded_config(path: str | Path) -> None:
    """A run directory's recorded config, checked like a config file (one RunDirError line naming the
    manifest and the field): every command that takes a run directory refuses a corrupt one, even
    where it reads no config value itself. pytest-benchmark files (converted on the fly) carry no
    twinbench config and pass."""
    p = Path(path)
    if not (p.is_dir() and (p / "manifest.json").is_file()):
        return  # not a run directory: the command's own reader says what it is
    manifest = read_manifest(p, require_complete=False)
    if manifest.config.get("source") != "pytest-benchmark":
        config_from_manifest(manifest)
