"""Run configuration: one frozen dataclass, loaded from TOML or JSON, overridable from the CLI.

Sections that belong to a stage (data, training, timing) stay plain dicts here and are validated by
constructing that stage's own dataclass in `validate()`, so each stage owns its knobs and this
module needs no heavy imports.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from twinbench.core.errors import ConfigError

DEFAULT_EXPORTERS = ("torch-dynamo", "torch-script", "tf2onnx")
DEFAULT_RUNTIMES = ("torch", "tf-function", "keras-eager", "ort-cpu", "openvino")


@dataclass(frozen=True)
class TwinSpec:
    """A twin by registry name with config overrides (sizes, heads, ...)."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """Everything one `twinbench run` does. Defaults are the built-in demo: the lstm twin on the
    built-in corpus, three exporters, the five CPU runtimes, finishing in a few minutes on 2 cores."""

    twins: tuple[TwinSpec, ...] = (TwinSpec("lstm"),)
    twin_modules: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    tag_data: Mapping[str, Any] = field(default_factory=lambda: {"source": "synthetic-pos", "size": 600})
    embeddings: Mapping[str, Any] = field(default_factory=dict)  # models.embeddings.EmbeddingSpec
    training: Mapping[str, Any] = field(default_factory=lambda: {"epochs": 10, "batch_size": 32})
    exporters: tuple[str, ...] = DEFAULT_EXPORTERS
    variants: tuple[str, ...] = ()
    onnx: tuple[str, ...] = ()
    opset: int = 18
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    runtime_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    devices: tuple[str, ...] = ("cpu",)
    batches: tuple[int, ...] = (1, 32)
    seq_lens: tuple[int, ...] = ()  # empty: the data's max_len
    threads: tuple[int, ...] = (1,)
    timing: Mapping[str, Any] = field(default_factory=lambda: {"min_iters": 30, "min_s": 0.3, "max_s": 5.0,
                                                                "repeats": 3})
    scenarios: tuple[str, ...] = ("single-stream",)  # + "server", "offline" (MLPerf LoadGen, bench/load/)
    load: Mapping[str, Any] = field(default_factory=dict)  # [load]: LoadGen scenario settings
    executor: Mapping[str, Any] = field(default_factory=dict)  # [executor] kind = "local" | "inprocess" | ...
    machines: tuple[str, ...] = ()  # executor resource tags; every cell runs once on each kind of machine
    parity: bool = True
    calibration: bool = True
    isolate: bool = True
    cell_timeout_s: float = 300.0
    out_dir: str = "runs"
    run_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("batches", "seq_lens", "threads"):
            for v in getattr(self, name):
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    raise ConfigError(f"{name}: every value must be a positive integer, got {v!r}")
        if not self.twins and not self.onnx:
            raise ConfigError("twins: at least one twin (or an --onnx file) is needed")
        if not self.runtimes:
            raise ConfigError("runtimes: at least one runtime is needed")
        if not self.batches:
            raise ConfigError("batches: at least one batch size is needed")
        if not self.threads:
            raise ConfigError("threads: at least one thread count is needed")
        if self.cell_timeout_s <= 0:
            raise ConfigError(f"cell_timeout_s: must be positive, got {self.cell_timeout_s!r}")
        if not 7 <= self.opset <= 25:
            raise ConfigError(f"opset: {self.opset} is outside the supported range 7..25")
        from twinbench.bench.load.settings import check_load  # light: no LoadGen, no frameworks

        check_load(self.scenarios, self.load)  # scenario names, QPS, latency bound: before any training

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["twins"] = [{"name": t.name, **dict(t.overrides)} for t in self.twins]
        return d

    def validate(self) -> None:
        """Check names and stage sections against the registries (imports the light parts only)."""
        from twinbench.bench.runtimes import RUNTIMES
        from twinbench.bench.timing import TimingPlan
        from twinbench.exporters import EXPORTERS
        from twinbench.exporters.variants import VARIANTS
        from twinbench.core.errors import DataError
        from twinbench.models.data import DataConfig
        from twinbench.models.embeddings import EmbeddingSpec
        from twinbench.models.registry import get_twin, load_twin_module
        from twinbench.models.train import TrainRecipe

        for mod in self.twin_modules:
            load_twin_module(mod)
        for spec in self.twins:
            get_twin(spec.name, **dict(spec.overrides))
        _known("exporter", self.exporters, EXPORTERS)
        _known("variant", self.variants, VARIANTS)
        _known("runtime", self.runtimes, RUNTIMES)
        _known("runtime_settings", self.runtime_settings, RUNTIMES)
        _construct("data", DataConfig, self.data)
        _construct("tag_data", DataConfig, self.tag_data)
        vectors = _construct("embeddings", EmbeddingSpec, self.embeddings).vectors
        if vectors is not None and not Path(vectors).is_file():
            raise DataError(f"embeddings: vectors: no such file {vectors!r}")
        _construct("training", TrainRecipe, self.training)
        _construct("timing", TimingPlan, self.timing)
        for path in self.onnx:
            if not Path(path).is_file():
                raise ConfigError(f"onnx: no such file {path!r}")


def _known(what: str, names: Any, registry: Mapping[str, Any]) -> None:
    for name in names:
        if name not in registry:
            raise ConfigError(f"unknown {what} {name!r} (known: {', '.join(sorted(registry))})")


def _construct(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    try:
        return cls(**dict(values))
    except TypeError as exc:
        raise ConfigError(f"{section}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{section}: {exc}") from None


_TUPLE_FIELDS = {"twin_modules", "exporters", "variants", "onnx", "runtimes", "devices", "batches",
                 "seq_lens", "threads", "scenarios", "machines"}
_DICT_FIELDS = {"data", "tag_data", "embeddings", "training", "timing", "runtime_settings", "load", "executor"}


#: List fields of names or paths (the rest of _TUPLE_FIELDS are integers, checked in __post_init__).
_NAME_FIELDS = {"twin_modules", "exporters", "variants", "onnx", "runtimes", "devices", "scenarios", "machines"}
#: Scalar fields and the types they accept.
_SCALARS: dict[str, tuple[type, ...]] = {"opset": (int,), "parity": (bool,), "calibration": (bool,),
                                         "isolate": (bool,), "cell_timeout_s": (int, float), "out_dir": (str,),
                                         "run_id": (str,)}


def _check_scalar(key: str, value: Any) -> None:
    kinds = _SCALARS.get(key)
    if kinds is None:
        return
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{key}: expected {names}, got {type(value).__name__} {value!r}")
    if isinstance(value, str) and not value:
        raise ConfigError(f"{key}: must not be empty")


def _parse_twins(value: Any) -> tuple[TwinSpec, ...]:
    if isinstance(value, (str, dict)):
        value = [value]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise ConfigError("twins: expected a list of names or tables with a 'name' key")
    specs = []
    for item in value:
        if isinstance(item, str):
            specs.append(TwinSpec(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            rest = {k: v for k, v in item.items() if k != "name"}
            specs.append(TwinSpec(item["name"], rest))
        else:
            raise ConfigError(f"twins: bad entry {item!r} (need a name or a table with 'name')")
    return tuple(specs)


def config_from_mapping(raw: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Merge a parsed mapping over `base` (the defaults); unknown keys are errors."""
    base = base or RunConfig()
    names = {f.name for f in dataclasses.fields(RunConfig)}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"unknown config key {key!r} (known: {', '.join(sorted(names))})")
        if value is None:
            continue
        if key == "twins":
            changes[key] = _parse_twins(value)
        elif key in _TUPLE_FIELDS:
            seq = value if isinstance(value, (list, tuple)) else [value]
            if key in _NAME_FIELDS:
                bad = [v for v in seq if not isinstance(v, str) or not v]
                if bad:
                    raise ConfigError(f"{key}: every entry must be a non-empty string, got {bad[0]!r}")
            changes[key] = tuple(seq)
        elif key in _DICT_FIELDS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
            merged = dict(getattr(base, key))
            merged.update(value)
            changes[key] = merged
        else:
            _check_scalar(key, value)
            changes[key] = value
    try:
        return dataclasses.replace(base, **changes)
    except TypeError as exc:
        raise ConfigError(f"config: {exc}") from None


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
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
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
    return out


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Defaults, then the file (if any), then CLI overrides (None values are ignored), checked as
    one mapping (so `twins = []` in a file with `--onnx` on the command line is an ONNX-only run).
    ONNX files given without any twin (file or `-t`) benchmark just those files: no default twin."""
    raw = anchor_paths(read_config_file(path), Path(path).parent) if path is not None else {}
    merged = dict(raw)
    for key, value in (overrides or {}).items():
        if value in (None, (), []):
            continue
        if key in _DICT_FIELDS and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = {**merged[key], **value}
        merged[key] = value
    if merged.get("onnx") and "twins" not in merged:
        merged["twins"] = []
    return config_from_mapping(merged, RunConfig())
