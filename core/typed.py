"""Typed, validated records from plain mappings: one function for every config section, runtime
settings schema and manifest field.

A section is a frozen dataclass whose annotations say each field's type and whose field metadata
says its bounds (`number(default, gt=0)`); `build(cls, values, where)` checks every value once —
unknown keys, types (bool is not an int, a float must be finite), choices (`Literal`), bounds —
and constructs the object, so its `__post_init__` only has to check what involves several fields.
Every failure is one `ConfigError` line naming the field (`timing.min_s: must be > 0, got -1`).

Why dataclasses and not pydantic: the records are few and flat, the checks are the ones above, and
a hand-sized validator keeps the error lines ours and the import cheap for `twinbench --help`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Mapping, TypeVar, Union

from twinbench.core.errors import ConfigError

T = TypeVar("T")

#: Field metadata keys a bound may use.
_BOUNDS = ("gt", "ge", "lt", "le")


def number(default: Any, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
           le: float | None = None, doc: str = "") -> Any:
    """A dataclass field with bounds that `build` checks (`timing.min_s: must be > 0`)."""
    meta = {k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if v is not None}
    if doc:
        meta["doc"] = doc
    return dataclasses.field(default=default, metadata=meta)


def bounds(f: dataclasses.Field) -> dict[str, float]:
    """The declared bounds of a field ({} when none)."""
    return {k: f.metadata[k] for k in _BOUNDS if k in f.metadata}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a table"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "nothing"}.get(tp, "a table" if dataclasses.is_dataclass(tp) else getattr(tp, "__name__", str(tp)))


def _convert(tp: Any, value: Any, where: str) -> Any:
    """`value` as type `tp`, or ConfigError. Lists become tuples; ints are accepted as floats."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_show(value)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices and type(value) in {type(c) for c in choices}:
            return value
        raise ConfigError(f"{where}: unknown value {value!r} (known: {', '.join(repr(c) for c in choices)})")
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_show(value)}")
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {_show(value)}")
        args = typing.get_args(tp)
        if args and args[0] is str and any(not isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: keys must be strings")
        if args and args[1] is not Any:
            return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where}: must be a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return build(tp, value, where, extra=getattr(tp, "__extra__", "forbid"))
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def check_bounds(where: str, value: Any, limits: Mapping[str, float]) -> None:
    """ConfigError when a number breaks one of `limits` (gt/ge/lt/le)."""
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        for op, limit in limits.items():
            ok = {"gt": v > limit, "ge": v >= limit, "lt": v < limit, "le": v <= limit}[op]
            if not ok:
                sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
                shown = int(limit) if float(limit).is_integer() else limit
                raise ConfigError(f"{where}: must be {sign} {shown}, got {v!r}")


def hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (string annotations evaluated)."""
    return typing.get_type_hints(cls)


def build(cls: type[T], values: Mapping[str, Any] | None, where: str, *, extra: str = "forbid") -> T:
    """Construct dataclass `cls` from `values`, checking every key and value (see module doc).
    Keys left out take the dataclass defaults (None is a value: only optional fields take it). `extra="ignore"`
    skips keys `cls` does not know (records written by a newer version) instead of refusing them."""
    if values is None:
        values = {}
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table, got {_show(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in values if k not in fields)
    if extra == "ignore":
        values, unknown = {k: v for k, v in values.items() if k in fields}, []
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
    types_ = hints(cls)
    kwargs = {}
    for name, value in values.items():
        here = f"{where}.{name}" if where else name
        converted = _convert(types_[name], value, here)
        check_bounds(here, converted, bounds(fields[name]))
        kwargs[name] = converted
    return construct(cls, kwargs, where)


def construct(cls: type[T], kwargs: Mapping[str, Any], where: str) -> T:
    """`cls(**kwargs)` with its `__post_init__`'s complaints as one ConfigError line under `where`."""
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if not where or msg.startswith(where) else f"{where}.{msg}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def convert_field(cls: type, name: str, value: Any, where: str) -> Any:
    """One field of dataclass `cls` checked as `build` checks it (type, finiteness, bounds)."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]  # type: ignore[arg-type]
    converted = _convert(hints(cls)[name], value, where)
    check_bounds(where, converted, bounds(field))
    return converted


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp)


def to_plain(obj: Any) -> Any:
    """A typed record as JSON-able plain data (tuples become lists, nested records tables)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj
