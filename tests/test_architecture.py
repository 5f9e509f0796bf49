"""The shape of the code: one staircase of packages (front -> reports -> bench -> exporters -> models ->
core), no import cycles between twinbench modules, project imports at the top, every package installed.

Walked with `ast`, so the check is about the source as written (imports inside functions count
too: a lazy import still ties two modules together), not about what happens to be imported."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Source folders and the import name each installs as (pyproject.toml's package-dir).
FOLDERS = {"twinbench": "twinbench", "core": "twinbench.core", "models": "twinbench.models", "exporters": "twinbench.exporters",
           "bench": "twinbench.bench", "reports": "twinbench.reports"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """twinbench modules imported by `name` (a `from pkg import mod` names the module `pkg.mod`)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_cycles_between_twinbench_modules() -> None:
    mods = _modules()
    known = set(mods)
    # importing a.b.c runs a/__init__ and a/b/__init__ first: an edge to a parent package is not a
    # dependency of the module's own making, so parents are left out
    graph = {m: _imports(m, p, known) - _package_parents(m) for m, p in mods.items()}
    assert _cycles(graph) == []


#: The staircase, top floor first: a package may import only packages after it (docs/ARCHITECTURE.md).
STAIRCASE = ("twinbench", "reports", "bench", "exporters", "models", "core")
#: Import name prefix -> floor (the front's own sub-packages are the front).
FLOORS = {"twinbench.core": "core", "twinbench.models": "models", "twinbench.exporters": "exporters",
          "twinbench.bench": "bench", "twinbench.reports": "reports", "twinbench": "twinbench"}


def _floor(module: str) -> str:
    for prefix, floor in sorted(FLOORS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return floor
    raise AssertionError(module)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module on a higher floor (lazy imports included: the graph has them)."""
    rank = {floor: i for i, floor in enumerate(STAIRCASE)}
    return sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                  if rank[_floor(t)] < rank[_floor(m)])


def test_imports_go_one_way_down_the_staircase() -> None:
    mods = _modules()
    known = set(mods)
    graph = {m: _imports(m, p, known) - _package_parents(m) - {"twinbench"} for m, p in mods.items()}
    assert upward_imports(graph) == []


def test_the_staircase_check_sees_an_upward_import() -> None:
    graph = {"twinbench.bench.cells": {"twinbench.core.errors", "twinbench.config"},
             "twinbench.core.errors": set(), "twinbench.config": set()}
    assert upward_imports(graph) == ["twinbench.bench.cells -> twinbench.config"]


def test_project_modules_are_imported_at_the_top_of_modules() -> None:
    """Only frameworks are imported inside functions (fast `--help`, a missing framework disables
    one runtime); a project import inside a function would be hiding a cycle."""
    lazy = []
    for name, path in _modules().items():
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if (isinstance(node, ast.ImportFrom) and node.module and not node.level
                            and node.module.startswith("twinbench")) or (
                            isinstance(node, ast.Import) and any(a.name.startswith("twinbench") for a in node.names)):
                        lazy.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert lazy == []


def test_the_checker_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_package_folder_is_installed() -> None:
    """A new sub-package missing from pyproject.toml would work in the editable install and vanish
    from a wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {m for m, p in _modules().items() if p.name == "__init__.py"}
    assert packages - listed == set()
