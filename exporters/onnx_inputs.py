"""What each input of an ONNX file is for: token ids, attention mask, token type ids, position ids.

The twins take one input (token ids). Files from Hugging Face `transformers`, KerasHub or TF Hub
take two to four, and the suite must feed them consistently: a mask that matches the padding of
the ids, type ids, positions. A role is told from the input's name as the usual exporters write
it (`input_ids`, `attention_mask`, `token_type_ids`, `position_ids`, KerasHub's `token_ids`,
`padding_mask`, `segment_ids`, TF Hub's `input_word_ids`, `input_mask`, `input_type_ids`; a
tf2onnx `:0` suffix is ignored), or from the user's `[onnx_inputs]` declaration, which always wins.
An input whose role cannot be told is refused, naming it and how to declare it.
"""

from __future__ import annotations

import re
import typing
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from twinbench.core.errors import ConfigError

if TYPE_CHECKING:
    import onnx

#: tokens: word ids; mask: 1 for a real token, 0 for padding; token_types: segment ids, all 0;
#: segments: segment ids of a sentence pair (0 for the first half of each row's tokens, 1 after);
#: positions: 0..seq-1 on every row.
InputRole = Literal["tokens", "mask", "token_types", "segments", "positions"]
ROLES: tuple[str, ...] = typing.get_args(InputRole)

#: Names exporters give each role (compared lower-case, without a `:0` suffix).
NAMES: Mapping[str, str] = {
    **dict.fromkeys(("input_ids", "input_word_ids", "token_ids", "tokens", "ids", "word_ids", "input"), "tokens"),
    **dict.fromkeys(("attention_mask", "input_mask", "padding_mask", "mask", "attention_masks"), "mask"),
    **dict.fromkeys(("token_type_ids", "input_type_ids", "segment_ids", "type_ids", "token_types"), "token_types"),
    **dict.fromkeys(("position_ids", "positions", "pos_ids"), "positions"),
}
#: Element types the suite can make for each role (a mask may be boolean or float as well).
INT_TYPES = ("int64", "int32")
ROLE_DTYPES: Mapping[str, tuple[str, ...]] = {
    "tokens": INT_TYPES, "token_types": INT_TYPES, "segments": INT_TYPES, "positions": INT_TYPES,
    "mask": (*INT_TYPES, "bool", "float32", "float16", "float64"),
}


@dataclass(frozen=True)
class InputSpec:
    """One graph input and its role. `shape` holds the declared dims (an int when fixed, a name
    when symbolic, None when unknown): a fixed first dim of 1 on positions means "[1, seq]"."""

    name: str
    role: InputRole
    dtype: str
    shape: tuple[int | str | None, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | "InputSpec") -> "InputSpec":
        if isinstance(d, InputSpec):
            return d
        try:
            return cls(name=str(d["name"]), role=d["role"], dtype=str(d["dtype"]), shape=tuple(d.get("shape") or ()))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"input spec: {exc}") from None


def role_of_name(name: str) -> str | None:
    """The role exporters' usual name for an input says, or None."""
    key = re.sub(r":\d+$", "", name.strip()).lower().replace("-", "_").replace(".", "_").strip("_")
    return NAMES.get(key)


def _dtype(elem_type: int) -> str:
    import onnx

    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except Exception:
        return f"type {elem_type}"


def graph_inputs(model: "onnx.ModelProto") -> list[Any]:
    """The graph inputs that are fed (initializers listed as inputs are not)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _shape(vi: Any) -> tuple[int | str | None, ...] | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return tuple(d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tt.shape.dim)


def _declare_hint(name: str) -> str:
    return f'declare it in the config: [onnx_inputs] {name} = ' + " | ".join(f'"{r}"' for r in ROLES)


def input_roles(model: "onnx.ModelProto", declared: Mapping[str, str] | None = None, *,
                label: str = "onnx") -> tuple[InputSpec, ...]:
    """Every fed input with its role (declared, else told by name; a file with one integer input
    feeds token ids whatever its name). ConfigError, one line naming the input, when a role cannot
    be told, a dtype or rank cannot be fed, a role appears twice, or no input takes token ids."""
    declared = dict(declared or {})
    inputs = graph_inputs(model)
    out: list[InputSpec] = []
    for vi in inputs:
        dtype = _dtype(vi.type.tensor_type.elem_type)
        shape = _shape(vi)
        role = declared.get(vi.name) or role_of_name(vi.name)
        if role is None and len(inputs) == 1 and dtype in INT_TYPES:
            role = "tokens"
        where = f"{label}: input {vi.name!r} ({dtype}, {list(shape) if shape is not None else 'unknown shape'})"
        if role is None:
            raise ConfigError(f"{where}: its role cannot be told from its name; {_declare_hint(vi.name)}")
        if role not in ROLES:
            raise ConfigError(f"{where}: unknown role {role!r} (known: {', '.join(ROLES)})")
        if dtype not in ROLE_DTYPES[role]:
            raise ConfigError(f"{where}: a {role} input must be {' or '.join(ROLE_DTYPES[role])}; "
                              f"the suite cannot feed {dtype}")
        if shape is not None and len(shape) != 2:
            raise ConfigError(f"{where}: has rank {len(shape)}; the suite feeds [batch, seq_len]")
        out.append(InputSpec(vi.name, role, dtype, shape or ()))  # type: ignore[arg-type]
    roles = [s.role for s in out]
    twice = sorted({r for r in roles if roles.count(r) > 1})
    if twice:
        names = [s.name for s in out if s.role == twice[0]]
        raise ConfigError(f"{label}: inputs {names} all take the role {twice[0]!r}; declare the right roles in "
                          f"the config's [onnx_inputs]")
    if "tokens" not in roles:
        raise ConfigError(f"{label}: no input takes token ids (inputs: {[s.name for s in out]}); "
                          + (_declare_hint(out[0].name) if out else "the suite feeds token ids"))
    return tuple(out)


def tokens_input(inputs: Sequence[InputSpec]) -> InputSpec:
    return next(s for s in inputs if s.role == "tokens")


def embedding_rows(model: "onnx.ModelProto", tokens: str) -> int | None:
    """The vocabulary the file's embedding table has (rows of the initializer a Gather reads with
    the token ids, directly or through a Cast), so token ids stay inside it; None if not found."""
    inits = {t.name: t for t in model.graph.initializer}
    names = {tokens}
    for node in model.graph.node:  # one Cast between the input and the Gather is common (int32 <-> int64)
        if node.op_type == "Cast" and node.input and node.input[0] == tokens:
            names.update(node.output)
    rows = [int(inits[n.input[0]].dims[0]) for n in model.graph.node
            if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] in names and n.input[0] in inits
            and inits[n.input[0]].dims]
    return max(rows) if rows else None
