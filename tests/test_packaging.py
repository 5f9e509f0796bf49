"""The packaging says what the code does: Python version, bounds, extras, lazy optional imports.

- requires-python: every module parses with the oldest claimed Python's grammar and imports no
  standard-library module or name newer than it (a table of the 3.11+ additions below).
- Lower bounds: every bound in pyproject.toml is the release constraints-cpu.txt pins, which is what
  `make` installs and CI tests; a package no machine here installs claims no bound.
- Extras are alternatives: base and every extra hold at most one ONNX Runtime build and one
  TensorFlow build, `cpu` and `gpu` exactly one each, also through the installed dependency closure.
  (A real `pip install --dry-run --report` of `.[gpu,load,ray,test]` needs PyPI, so it is not a test:
  run once by hand it resolved onnxruntime-gpu 1.31.1 and tensorflow 2.21.0 alone.)
- `make demo` / `make test` install the cpu set with the pins; TORCH_INDEX adds PyTorch's CPU index.
- Every third-party import is declared; optional ones (LoadGen, Ray, hypothesis, pytest) are lazy,
  and with them absent every module still imports and only their feature says why it is off.
- The README states the Python version, Linux only, and its install lines name real extras.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = ("core", "models", "exporters", "bench", "reports", "twinbench")
README = (ROOT / "README.md").read_text()

#: Standard-library modules added after 3.10, with the version that added them (What's New pages).
NEW_MODULES = {"tomllib": (3, 11), "wsgiref.types": (3, 11), "annotationlib": (3, 14),
               "compression": (3, 14), "string.templatelib": (3, 14), "concurrent.interpreters": (3, 14)}
#: Names added to existing standard-library modules after 3.10 (a selection of the often used).
NEW_NAMES = {("typing", "Self"): (3, 11), ("typing", "LiteralString"): (3, 11), ("typing", "Never"): (3, 11),
             ("typing", "assert_never"): (3, 11), ("typing", "reveal_type"): (3, 11),
             ("typing", "NotRequired"): (3, 11), ("typing", "Required"): (3, 11),
             ("typing", "dataclass_transform"): (3, 11), ("enum", "StrEnum"): (3, 11),
             ("enum", "verify"): (3, 11), ("datetime", "UTC"): (3, 11), ("asyncio", "TaskGroup"): (3, 11),
             ("asyncio", "timeout"): (3, 11), ("contextlib", "chdir"): (3, 11),
             ("hashlib", "file_digest"): (3, 11), ("operator", "call"): (3, 11),
             ("typing", "override"): (3, 12), ("typing", "TypeAliasType"): (3, 12),
             ("itertools", "batched"): (3, 12), ("typing", "TypeIs"): (3, 13), ("typing", "ReadOnly"): (3, 13),
             ("warnings", "deprecated"): (3, 13), ("copy", "replace"): (3, 13)}
#: Groups of distributions that install the same module: never two of one group side by side.
EXCLUSIVE = {"onnxruntime": {"onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"},
             "tensorflow": {"tensorflow", "tensorflow-cpu"}}
#: Imported but not declared, with why that is right.
TRANSITIVE = {"absl": "core/quiet.py sets absl's log level if it is there (TensorFlow and keras bring it)",
              "keras_hub": "the bert twin's Keras side: installed by the Makefile with --no-deps, since every "
                           "release requires tensorflow-text (pyproject.toml, extra hf)"}
#: Optional imports: the extra that brings them, and the only modules that may import them at top level.
OPTIONAL = {"mlperf_loadgen": ("load", ()), "ray": ("ray", ()), "hypothesis": ("test", ()),
            "pytest": ("pytest", ("bench/pytest_plugin.py",))}


def _modules() -> list[Path]:
    return sorted(p for d in PACKAGES for p in (ROOT / d).rglob("*.py"))


def _oldest_python() -> tuple[int, int]:
    spec = PYPROJECT["project"]["requires-python"]
    m = re.fullmatch(r">=\s*3\.(\d+)", spec.strip())
    assert m, f"requires-python {spec!r}: expected '>=3.X'"
    return 3, int(m.group(1))


def too_new(source: str, oldest: tuple[int, int], name: str = "<module>") -> list[str]:
    """What in `source` the `oldest` Python cannot run: a syntax error in its grammar, or a
    standard-library module or name added after it."""
    try:
        tree = ast.parse(source, name, feature_version=oldest)
    except SyntaxError as exc:
        return [f"{name}:{exc.lineno}: not {oldest[0]}.{oldest[1]} syntax ({exc.msg})"]
    found = []
    for node in ast.walk(tree):
        mods: list[tuple[str, list[str]]] = []
        if isinstance(node, ast.Import):
            mods = [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods = [(node.module, [a.name for a in node.names])]
        for mod, names in mods:
            for new, added in NEW_MODULES.items():
                if (mod == new or mod.startswith(new + ".")) and added > oldest:
                    found.append(f"{name}:{node.lineno}: {mod} (Python {added[0]}.{added[1]})")
            for n in names:
                added = NEW_NAMES.get((mod, n))
                if added and added > oldest:
                    found.append(f"{name}:{node.lineno}: {mod}.{n} (Python {added[0]}.{added[1]})")
    return found


def test_requires_python_matches_the_code() -> None:
    oldest = _oldest_python()
    assert sys.version_info[:2] >= oldest
    problems = [p for path in _modules() for p in too_new(path.read_text(), oldest, str(path.relative_to(ROOT)))]
    assert not problems, "code needs a newer Python than requires-python says:\n" + "\n".join(problems)
    # the check can fail: one minor version older would not run twinbench/config.py (tomllib)
    older = (oldest[0], oldest[1] - 1)
    assert any("tomllib" in p for p in too_new((ROOT / "twinbench/config.py").read_text(), older))
    assert too_new("def f[T](x: T) -> T: return x\n", (3, 11))  # PEP 695 is 3.12 grammar


def test_readme_states_python_and_linux() -> None:
    oldest = _oldest_python()
    assert f"Python {oldest[0]}.{oldest[1]}+" in README
    assert "Python 3.10" not in README
    assert re.search(r"Linux only", README) and "fcntl" in README and "/proc" in README


def _requirements() -> dict[str, list[Requirement]]:
    """'' for the base dependencies, then each extra."""
    out = {"": [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]}
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        out[extra] = [Requirement(r) for r in reqs]
    return out


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints-cpu.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints-cpu.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = Version(version.strip())
    return pins


def _lower_bound(spec: SpecifierSet) -> Version | None:
    bounds = [Version(s.version) for s in spec if s.operator in (">=", "==", "~=")]
    return max(bounds) if bounds else None


def test_lower_bounds_are_the_tested_pins() -> None:
    pins = _pins()
    declared = set()
    for extra, reqs in _requirements().items():
        for req in reqs:
            name = canonicalize_name(req.name)
            declared.add(name)
            bound = _lower_bound(req.specifier)
            if name in pins:
                assert bound == pins[name], (f"{req} ({extra or 'base'}): lower bound {bound}, but "
                                             f"constraints-cpu.txt installs and tests {pins[name]}")
            else:
                assert bound is None, f"{req} ({extra or 'base'}): no machine here installs it, so claim no bound"
    assert set(pins) <= declared, f"pinned but not declared: {sorted(set(pins) - declared)}"


def test_installed_versions_are_the_pins() -> None:
    """This venv is the tested set: what is installed is what constraints-cpu.txt pins."""
    for name, pin in _pins().items():
        try:
            got = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # an extra this venv does not have
        assert Version(got.base_version) == pin, f"{name}: installed {got}, constraints-cpu.txt pins {pin}"


def _environments() -> list[dict[str, str]]:
    return [{"platform_machine": m, "sys_platform": "linux", "platform_system": "Linux"}
            for m in ("x86_64", "aarch64")]


def _names(reqs: list[Requirement], env: dict[str, str], extra: str = "") -> set[str]:
    return {canonicalize_name(r.name) for r in reqs
            if r.marker is None or r.marker.evaluate(dict(env, extra=extra))}


def _closure(names: set[str], env: dict[str, str]) -> set[str]:
    """Names plus everything their installed metadata requires (unknown packages are leaves)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(dict(env, extra="")):
                todo.append(canonicalize_name(req.name))
    return seen


def test_cpu_and_gpu_extras_are_alternatives() -> None:
    reqs = _requirements()
    for env in _environments():
        base = _names(reqs[""], env)
        for group, members in EXCLUSIVE.items():
            assert not _closure(base, env) & members, f"base dependencies bring {group}: pick it in an extra"
        for extra in reqs:
            names = _names(reqs[extra], env, extra) | base
            deep = _closure(names, env)
            for group, members in EXCLUSIVE.items():
                both = deep & members
                assert len(both) <= 1, f"[{extra}] on {env['platform_machine']} installs {sorted(both)} side by side"
                if extra in ("cpu", "gpu"):
                    assert len(names & members) == 1, f"[{extra}] must name exactly one {group} build"
        assert _names(reqs["gpu"], env, "gpu") & EXCLUSIVE["onnxruntime"] == {"onnxruntime-gpu"}
        assert _names(reqs["cpu"], env, "cpu") & EXCLUSIVE["onnxruntime"] == {"onnxruntime"}
    assert {"cpu", "gpu", "load", "ray", "pytest", "test"} <= set(reqs)


def _make(*args: str, venv: Path) -> str:
    res = subprocess.run(["make", "-n", f"VENV={venv}", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("target", ["demo", "test"])
def test_make_installs_the_cpu_set_with_the_pins(target: str, tmp_path: Path) -> None:
    out = _make(target, venv=tmp_path / "venv")
    install = next(line for line in out.splitlines() if "pip install" in line and "-e" in line)
    argv = shlex.split(install)
    assert argv[argv.index("-c") + 1] == "constraints-cpu.txt"
    extras = set(re.search(r"\.\[([^\]]+)\]", install).group(1).split(","))
    assert "cpu" in extras and "gpu" not in extras and {"load", "ray", "test"} <= extras
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])
    assert "--extra-index-url" not in argv  # nothing outside the configured indexes by default
    assert "sys.version_info >= (3, 11)" in out  # the Python check comes first
    cpu = _make(target, "TORCH_INDEX=https://download.pytorch.org/whl/cpu", venv=tmp_path / "venv")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu
    gpu = _make(target, "EXTRAS=gpu,load,ray,test", venv=tmp_path / "venv")
    assert '".[gpu,load,ray,test]"' in gpu and "cpu," not in gpu


def test_readme_install_lines_name_real_extras() -> None:
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    lines = [ln.strip() for ln in re.findall(r"^.*pip install.*$", README, flags=re.M)]
    assert lines, "README names no pip install line"
    for line in lines:
        for group in re.findall(r"\[([a-z,\-]+)\]", line):
            assert set(group.split(",")) <= extras, f"README: {line!r} names an unknown extra"
    assert "https://download.pytorch.org/whl/cpu" in README and "TORCH_INDEX=" in README
    assert re.search(r"\[cpu[\],]", README) and re.search(r"\[gpu[\],]", README)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module, line, at module level) of every absolute import in a file."""
    tree = ast.parse(path.read_text())
    out = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name.split(".")[0], child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                out.append((child.module.split(".")[0], child.lineno, top))
            visit(child, inner)

    visit(tree, True)
    return out


def test_every_third_party_import_is_declared_and_optional_ones_are_lazy() -> None:
    dists = metadata.packages_distributions()
    declared = {canonicalize_name(r.name) for reqs in _requirements().values() for r in reqs}
    undeclared, eager = [], []
    for path in _modules():
        rel = str(path.relative_to(ROOT))
        for mod, line, top in _imports(path):
            if mod in sys.stdlib_module_names or mod in ("twinbench", "__future__"):
                continue
            owners = {canonicalize_name(d) for d in dists.get(mod, [])}
            if not owners & declared and mod not in TRANSITIVE:
                undeclared.append(f"{rel}:{line}: {mod} ({', '.join(sorted(owners)) or 'not installed'})")
            if mod in OPTIONAL and top and rel not in OPTIONAL[mod][1]:
                eager.append(f"{rel}:{line}: {mod} at module level (extra [{OPTIONAL[mod][0]}] is optional)")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)
    assert not eager, "\n".join(eager)


_ABSENT = '''
import importlib, json, pkgutil, sys, tempfile
for name in ("mlperf_loadgen", "ray", "hypothesis", "pytest", "pytest_benchmark"):
    sys.modules[name] = None  # what Python does for a package that is not installed: import fails
import twinbench
names = []
for pkg in ("core", "models", "exporters", "bench", "reports", "twinbench"):
    mod = importlib.import_module("twinbench" if pkg == "twinbench" else "twinbench." + pkg)
    for info in pkgutil.walk_packages(mod.__path__, mod.__name__ + "."):
        if info.name not in ("twinbench.bench.pytest_plugin", "twinbench.__main__"):  # pytest's plugin; the CLI run
            importlib.import_module(info.name)
            names.append(info.name)
from twinbench.bench.load.sut import loadgen_unavailable
from twinbench.bench.load.cell import run_load_cell
from twinbench.bench.cells import CellSpec
from twinbench.exporters.artifact import Artifact
from twinbench.core.errors import ConfigError
from twinbench.bench.executors.ray import RayExecutor
art = Artifact(name="m", kind="onnx", path="m.onnx", twin="t", source="user", exporter="user")
tmp = tempfile.mkdtemp()
row = run_load_cell(CellSpec(cell_id="c", run_dir=tmp, artifact=art.to_dict(), runtime="ort-cpu", device="cpu",
                             batch=1, seq_len=4, threads=1, scenario="server"))
try:
    RayExecutor()._connect()
    ray = "connected"
except ConfigError as exc:
    ray = str(exc)
print(json.dumps({"modules": len(names), "loadgen": loadgen_unavailable(), "row": [row["status"], row["error"]],
                  "ray": ray}))
'''


@pytest.mark.slow
def test_without_optional_packages_only_their_feature_is_off(tmp_path: Path) -> None:
    """LoadGen, Ray, hypothesis, pytest and pytest-benchmark made unimportable in a fresh process:
    every module still imports, a load cell is `skipped` with the reason, Ray says what to install."""
    import json

    res = subprocess.run([sys.executable, "-c", _ABSENT], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["modules"] > 50
    assert "twinbench[load]" in got["loadgen"]
    assert got["row"] == ["skipped", got["loadgen"]]
    assert "twinbench[ray]" in got["ray"]
    cli = subprocess.run([sys.executable, "-c", "import sys\nfor n in ('mlperf_loadgen','ray','pytest'): "
                          "sys.modules[n] = None\nfrom twinbench.cli import main\nsys.argv = ['twinbench', 'list']\n"
                          "main()"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "ort-cpu" in cli.stdout


def test_marker_environments_cover_the_cpu_extra_split() -> None:
    """The `cpu` extra names tensorflow-cpu on x86_64 and tensorflow elsewhere: the environments
    above must exercise both branches, or the alternative check would miss one."""
    cpu = _requirements()["cpu"]
    seen = [_names(cpu, env, "cpu") & EXCLUSIVE["tensorflow"] for env in _environments()]
    assert {"tensorflow-cpu"} in seen and {"tensorflow"} in seen
    assert Marker("platform_machine == 'x86_64'").evaluate(dict(_environments()[0], extra=""))


def test_pytest_plugin_without_pytest_benchmark_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(twinbench_cell):\n    pass\n")
    code = ("import sys\n"
            "class Absent:\n"  # what an uninstalled package does: its import fails
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'pytest_benchmark':\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Absent())\n"  # --assert=plain: pytest's rewrite hook would find it first
            "import pytest\n"
            "sys.exit(pytest.main(['-q', '--assert=plain', '-p', 'no:benchmark', '-p', 'no:cacheprovider', "
            "'-p', 'twinbench.bench.pytest_plugin', 'test_x.py']))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 4, res.stdout[-2000:] + res.stderr[-2000:]  # pytest's usage-error exit code
    assert "pip install 'twinbench[pytest]'" in res.stderr
