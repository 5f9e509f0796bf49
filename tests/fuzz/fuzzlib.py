"""What the fuzz tests share: the CLI in a subprocess with the verdict rule, junk values, a small
TOML writer, mutations of nested JSON, and the count of generated cases per input kind.

The rule every input must keep (issue 22): it reaches a verdict (exit 0, 1 or 4) or is refused with
exactly one `twinbench: error:` line and exit 2; never exit 3, never a traceback."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

#: Generated cases per input kind in this session (printed by conftest.py at the end).
CASES: Counter[str] = Counter()
#: Scale every kind's example count (TB_FUZZ_SCALE=4 for a longer hunt; CI keeps 1).
SCALE = float(os.environ.get("TB_FUZZ_SCALE", "1"))


def fuzz_settings(examples: int) -> Any:
    """Fixed seed (derandomize), no deadline, no example database, and no shrinking unless
    TB_FUZZ_SHRINK=1: each example is a real subprocess, so shrinking a failure could take long;
    the failing example is printed as generated."""
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("TB_FUZZ_SHRINK") else [])
    return settings(max_examples=max(1, int(examples * SCALE)), derandomize=True, deadline=None, database=None,
                    phases=phases, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


def env_for(tmp: Path) -> dict[str, str]:
    """A private cache, lock and history store per example, so examples never meet (nor a user's)."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TWINBENCH_CACHE": str(tmp / "cache"),
            "TWINBENCH_LOCK": str(tmp / "cache" / "bench.lock"), "TWINBENCH_HISTORY": str(tmp / "history.sqlite")}


def cli(cwd: Path, *args: str, allowed: Iterable[int] = (0, 1, 2, 4), timeout: float = 300,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`twinbench ARGS` in `cwd`, checked against the rule above."""
    proc = subprocess.run([sys.executable, "-m", "twinbench", *args], capture_output=True, text=True, cwd=cwd,
                          env=env or env_for(cwd), timeout=timeout)
    verdict(proc, allowed, args)
    return proc


def verdict(proc: subprocess.CompletedProcess[str], allowed: Iterable[int], what: Any) -> None:
    out = proc.stdout + proc.stderr
    shown = f"{what}: exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    assert "Traceback" not in out, shown
    assert proc.returncode != 3 and "internal error" not in proc.stderr, shown
    assert proc.returncode in tuple(allowed), shown
    if proc.returncode == 2:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("twinbench: error:")]
        assert len(errors) == 1, shown


# values ----------------------------------------------------------------------------------------------

#: Strings that have broken tools before: markup, escapes, paths out, a name too long, empty.
NASTY_TEXT = ["", " ", "[/x]", "[bold]x", "\x1b[31mred", "../../etc/passwd", "/", "x" * 300, "é\u202e", "nan",
              "1e999", "ort-cpu", "lstm", "torch-script", "cpu", "true", "{}", "[]", "\x00"]
#: Numbers at the edges: zero, negatives, huge, non-finite.
NASTY_NUMBERS = [0, -1, 1, 2, 3, 2**31, 2**63, 2**70, -(2**63), 10**12, 0.0, -0.0, 0.5, -1.5, 1e-300, 1e308,
                 math.nan, math.inf, -math.inf]

scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(NASTY_NUMBERS), st.sampled_from(NASTY_TEXT),
                    st.integers(-5, 40), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
junk = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=6), scalars, max_size=3))


def finite(value: Any) -> Any:
    """`value` with non-finite floats made finite: strict JSON files (a manifest) cannot hold them."""
    if isinstance(value, float) and not math.isfinite(value):
        return 1e308 if value > 0 else -1e308 if value < 0 else 0.0
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return value


# nested JSON: every path, set or delete one -----------------------------------------------------------

def paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) to a value inside `obj`, containers included."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, prefix + (i,))
    return out


def mutate(obj: Any, path: tuple, how: str, value: Any = None) -> Any:
    """A copy of `obj` with the value at `path` replaced by `value` ("set"), removed ("delete"), or
    a sibling key `value` added ("add"; dicts only)."""
    obj = json.loads(json.dumps(obj))
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "set":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[str(value)[:20] or "extra"] = 1
    return obj


# TOML --------------------------------------------------------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string is a JSON string (escapes alike)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(type(v))


def to_toml(config: dict[str, Any]) -> str:
    """TOML for a config mapping: tables as [sections], deeper tables inline, None left out (TOML has
    no null)."""
    lines, sections = [], []
    for k, v in config.items():
        if v is None:
            continue
        if isinstance(v, dict):
            sections.append((k, v))
        else:
            lines.append(f"{json.dumps(str(k))} = {_toml_value(v)}")
    for name, table in sections:
        lines.append(f"\n[{json.dumps(str(name))}]")
        lines += [f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in table.items() if x is not None]
    return "\n".join(lines) + "\n"
