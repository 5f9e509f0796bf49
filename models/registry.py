"""The twin registry: a twin is a plain factory function decorated with `@register_twin`.

A factory takes keyword overrides of its config fields and returns a frozen `Twin`. Tests are
parametrized from `list_twins()`, so a twin is tested the moment it is registered; the property
tests draw configs from the strategy the twin registers with (`config_strategy`).

The `Twin` states its contract (task, head, which config field the data's length fills, the sequence
lengths it accepts), so no caller has to guess it from config field names.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from twinbench.core.errors import ConfigError, one_line, summary
from twinbench.core.registry import Registry

if TYPE_CHECKING:  # heavy frameworks are imported lazily by the builders themselves
    import keras
    import torch

Task = Literal["classify", "tag"]
Head = Literal["logits", "sigmoid"]
HEADS: tuple[str, ...] = ("logits", "sigmoid")

#: Every twin takes token ids under this input name and returns logits under this output name.
INPUT_NAME = "tokens"
OUTPUT_NAME = "logits"

EMBEDDING_FIELDS = ("embed_dim", "embedding_matrix", "freeze_embedding")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class Twin:
    """One model written twice. Input: int64 token ids [batch, seq]. Output: float32 values under
    `OUTPUT_NAME`, [batch, classes] for `classify` or [batch, seq, tags] for `tag`.

    `config` is a frozen dataclass validated in its own `__post_init__` (no side effects); it carries
    `vocab_size: int` and `num_classes` (classify) or `num_tags` (tag). The four functions must not
    depend on global state. The rest is the contract the pipeline reads instead of guessing:

    - `head`: "logits" (raw scores) or "sigmoid" (one probability; trained with BCE on probabilities).
    - `length_field`: the config field the pipeline sets to the data's sequence length (the mlp's
      `length`, the transformer's `max_len`), or None.
    - `fixed_length`: the only sequence length the twin accepts (the mlp's Flatten), or None.
    - `min_seq_len` / `max_seq_len`: the accepted range otherwise (the cnn's widest kernel, the
      transformer's position table); `max_seq_len` None means unbounded.
    """

    name: str
    config: Any
    build_torch: Callable[[Any], "torch.nn.Module"]
    build_keras: Callable[[Any], "keras.Model"]
    torch_to_keras: Callable[["torch.nn.Module", "keras.Model"], None]
    keras_to_torch: Callable[["keras.Model", "torch.nn.Module"], None]
    task: Task = "classify"
    fixed_length: int | None = None
    doc: str = ""
    head: Head = "logits"
    length_field: str | None = None
    min_seq_len: int = 1
    max_seq_len: int | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classify", "tag"):
            raise ValueError(f"task: must be classify or tag, got {self.task!r}")
        if self.head not in HEADS:
            raise ValueError(f"head: must be one of {', '.join(HEADS)}, got {self.head!r}")
        for field in ("vocab_size", self.outputs_field):
            if not hasattr(self.config, field):
                raise ValueError(f"config: a {self.task} twin's config needs a {field} field")
        if self.head == "sigmoid" and (self.task != "classify" or self.num_outputs != 1):
            raise ValueError(f"head: sigmoid is one probability of a classifier (num_classes=1), "
                             f"got task {self.task!r} with {self.num_outputs} outputs")
        if self.length_field is not None and not hasattr(self.config, self.length_field):
            raise ValueError(f"length_field: the config has no field {self.length_field!r}")
        if not _positive_int(self.min_seq_len):
            raise ValueError(f"min_seq_len: must be a positive integer, got {self.min_seq_len!r}")
        if self.max_seq_len is not None and not (_positive_int(self.max_seq_len)
                                                 and self.max_seq_len >= self.min_seq_len):
            raise ValueError(f"max_seq_len: must be an integer >= min_seq_len={self.min_seq_len}, "
                             f"got {self.max_seq_len!r}")
        if self.fixed_length is not None and not (_positive_int(self.fixed_length)
                                                  and self._in_range(self.fixed_length)):
            raise ValueError(f"fixed_length: must be an integer in {self._range_text()}, got {self.fixed_length!r}")

    @property
    def outputs_field(self) -> str:
        """The config field holding the size of the last output axis."""
        return "num_tags" if self.task == "tag" else "num_classes"

    @property
    def num_outputs(self) -> int:
        """Classes (classify) or tags (tag): the size of the last output axis."""
        return int(getattr(self.config, self.outputs_field))

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    # -- what the planner asks before any training ----------------------------------------------

    def _in_range(self, n: int) -> bool:
        return n >= self.min_seq_len and (self.max_seq_len is None or n <= self.max_seq_len)

    def _range_text(self) -> str:
        if self.max_seq_len is None:
            return f">= {self.min_seq_len}"
        return f"{self.min_seq_len}..{self.max_seq_len}"

    def seq_len_problem(self, n: Any) -> str | None:
        """None when the twin accepts sequences of `n` tokens, else one line naming the twin and
        the lengths it accepts, e.g. "twin 'cnn' accepts sequence lengths >= 5, got 3"."""
        if self.fixed_length is not None:
            ok = _positive_int(n) and n == self.fixed_length
            return None if ok else f"twin {self.name!r} accepts only sequence length {self.fixed_length}, got {n!r}"
        if _positive_int(n) and self._in_range(n):
            return None
        return f"twin {self.name!r} accepts sequence lengths {self._range_text()}, got {n!r}"

    def batch_problem(self, b: Any) -> str | None:
        """None when the twin accepts batches of `b` rows (any positive integer), else one line."""
        return None if _positive_int(b) else f"twin {self.name!r} accepts batch sizes >= 1, got {b!r}"

    def data_overrides(self, *, vocab_size: int, num_outputs: int, max_len: int,
                       embedding_matrix: str | None = None, embed_dim: int | None = None,
                       freeze_embedding: bool = False) -> dict[str, Any]:
        """The config fields the data decides, for the caller to lay the user's overrides on top of:
        `vocab_size`; `num_classes` / `num_tags` = `num_outputs` (not for a sigmoid head, whose one
        output is fixed); `length_field` = `max_len`; and, given `embedding_matrix` (a .npy path),
        the pretrained-embedding fields. ConfigError when the twin has no embedding fields."""
        out: dict[str, Any] = {"vocab_size": int(vocab_size)}
        if self.head != "sigmoid":
            out[self.outputs_field] = int(num_outputs)
        if self.length_field is not None:
            out[self.length_field] = int(max_len)
        if embedding_matrix is not None:
            if not all(hasattr(self.config, f) for f in EMBEDDING_FIELDS):
                raise ConfigError(f"twin {self.name!r}: has no embedding_matrix field, so it cannot take the "
                                  "[embeddings] vectors (see docs/twins.md, 'Pretrained embeddings')")
            out.update(embed_dim=int(embed_dim or self.config.embed_dim), embedding_matrix=str(embedding_matrix),
                       freeze_embedding=bool(freeze_embedding))
        return out


TwinFactory = Callable[..., Twin]
#: A zero-argument function returning a hypothesis strategy of config-override dicts.
ConfigStrategy = Callable[[], Any]
#: A zero-argument function: None when the twin can be built here, else why not (one line). Cheap:
#: it must not import the libraries it looks for (`importlib.util.find_spec` is enough).
Availability = Callable[[], "str | None"]


@dataclass(frozen=True)
class TwinEntry:
    """A registered twin: its factory and the hypothesis strategy its property tests draw from."""

    factory: TwinFactory
    configs: ConfigStrategy | None = None
    available: Availability | None = None

    def reason(self) -> str | None:
        """Why the twin cannot be built here, or None; a check that raises is itself the reason."""
        if self.available is None:
            return None
        try:
            return self.available()
        except Exception as exc:  # a broken install becomes a reason, not a crash (as for runtimes)
            return f"availability check failed: {type(exc).__name__}: {exc}"


def _entry(name: str, factory: TwinFactory, *, configs: ConfigStrategy | None = None,
           available: Availability | None = None) -> TwinEntry:
    return TwinEntry(factory, configs, available)


#: Every twin: the built-ins are discovered from models/twins/ (one file each) on first use.
TWINS: Registry[TwinEntry] = Registry("twin", package="twinbench.models.twins", make=_entry)


def register_twin(name: str, *, configs: ConfigStrategy | None = None,
                  available: Availability | None = None) -> Callable[[TwinFactory], TwinFactory]:
    """Decorator: register `factory(**overrides) -> Twin` under `name` (users use it too).

    `configs`, when given, is a zero-argument function returning a hypothesis strategy of override
    dicts; the property tests draw from it (import hypothesis inside it: it is a test dependency).
    A twin registered without one is property-tested at its default config.

    `available`, when given, says whether the libraries the twin is built from are installed
    (None, or the reason they are not); an unavailable twin is listed with its reason, not run."""
    return TWINS.register(name, configs=configs, available=available)


def list_twins() -> list[str]:
    """Names of every registered twin that can be built here, sorted (see `unavailable_twins`)."""
    return [name for name, entry in TWINS.items() if entry.reason() is None]


def unavailable_twins() -> dict[str, str]:
    """Registered twins that cannot be built here (a library they are built from is missing):
    name -> the one-line reason, sorted by name."""
    reasons = {name: entry.reason() for name, entry in TWINS.items()}
    return {name: reason for name, reason in reasons.items() if reason is not None}


def _available_entry(name: str) -> TwinEntry:
    entry = TWINS.get(name)
    reason = entry.reason()
    if reason is not None:
        raise ConfigError(f"twin {name!r} is unavailable here: {reason}")
    return entry


def get_twin(name: str, **overrides: Any) -> Twin:
    """Build the named twin with config overrides; unknown names or fields, or a twin whose
    libraries are missing, raise ConfigError."""
    entry = _available_entry(name)
    try:
        twin = entry.factory(**overrides)
    except TypeError as exc:
        raise ConfigError(f"twin {name!r}: bad config override ({exc})") from None
    except ValueError as exc:
        raise ConfigError(f"twin {name!r}: {exc}") from None
    if not isinstance(twin, Twin):
        raise ConfigError(f"twin factory {name!r} returned {type(twin).__name__}, not Twin")
    return twin


def config_strategy(name: str) -> Any:
    """The hypothesis strategy of config overrides the property tests draw for twin `name`
    (imports hypothesis: call it from tests only). Defaults only when the twin registered none."""
    configs = _available_entry(name).configs
    if configs is None:
        from hypothesis import strategies as st

        return st.just({})
    return configs()


def load_twin_module(spec: str) -> None:
    """Import a user module that registers twins: a dotted module name or a path to a .py file."""
    TWINS.discover()
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ConfigError(f"twin module {spec!r}: no such file")
        mod_name = f"twinbench_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
        if mod_name in sys.modules:
            return
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"twin module {spec!r}: cannot be imported")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # a user's module may fail in any way, exit() included
            del sys.modules[mod_name]
            raise ConfigError(f"twin module {spec!r} failed to import: {one_line(exc, 300)}") from None
        return
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"twin module {spec!r} cannot be imported: {summary(exc, 300)}") from None
    except (Exception, SystemExit) as exc:  # a SystemExit must not slip past the CLI's guards
        raise ConfigError(f"twin module {spec!r} failed to import: {one_line(exc, 300)}") from None
