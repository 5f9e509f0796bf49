"""`--set key.sub=value`: dotted overrides of a config file from the command line, as pyperf, asv and
Hydra users expect, so one config file serves many runs without editing it.

The key is a dotted path into the config (`timing.repeats`, `runtime_settings.openvino.threads`);
the value is read as a TOML literal (`5`, `0.5`, `true`, `"text"`, `["ort-cpu", "openvino"]`,
`{ repeats = 5 }`), and a value that is not one is taken as a plain string (`data.source=imdb`).
The overrides are merged over the file's tables key by key and then checked exactly as the file
is (twinbench/config.py): an unknown key or a wrong type is one ConfigError line.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, Iterable, Mapping

from twinbench.core.errors import ConfigError

#: One segment of a dotted key: what a TOML bare key may hold (runtime names have dashes).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def literal(text: str) -> Any:
    """A value as TOML reads it on the right of `=`, else the text itself (a bare string)."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return parsed["v"] if set(parsed) == {"v"} else text


def parse_set(item: str) -> tuple[tuple[str, ...], Any]:
    """`timing.repeats=5` -> (("timing", "repeats"), 5); a malformed item is one ConfigError line."""
    key, sep, value = item.partition("=")
    path = tuple(part.strip() for part in key.strip().split("."))
    if not sep or not all(_SEGMENT.fullmatch(p) for p in path):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key (e.g. --set timing.repeats=5)")
    return path, literal(value.strip())


def apply_sets(base: Mapping[str, Any], items: Iterable[str]) -> dict[str, Any]:
    """`base` (a parsed config mapping) with every `--set` item merged in, in order; tables are
    merged key by key, any other value is replaced."""
    out = _copy(base)
    for item in items:
        path, value = parse_set(item)
        table = out
        for depth, part in enumerate(path[:-1]):
            inner = table.get(part)
            if inner is None:
                inner = table[part] = {}
            elif not isinstance(inner, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {item!r}: {where} is not a table (it holds {inner!r})")
            table = inner
        leaf = path[-1]
        if isinstance(value, dict) and isinstance(table.get(leaf), dict):
            value = {**table[leaf], **value}
        table[leaf] = value
    return out


def _copy(value: Any) -> Any:
    """A copy whose tables are plain dicts this module may change (the caller's stay as they were)."""
    if isinstance(value, Mapping):
        return {str(k): _copy(v) for k, v in value.items()}
    return value
