"""`twinbench export`: each dashboard format checked against the format's published facts, and the
pytest-benchmark export read back by twinbench's own reader and by pytest-benchmark itself.

Nothing is downloaded at test time, so the formats' facts are written here by hand, with where they
come from:
- Bencher Metric Format (BMF), Bencher's reference page "Bencher Metric Format"
  (bencher.dev/docs/reference/bencher-metric-format): a JSON object keyed by benchmark name, each
  value an object keyed by measure slug, each measure an object with a required number `value` and
  optional numbers `lower_value` and `upper_value`. Built-in measures: `latency` in nanoseconds,
  `throughput` in operations per second. Its example is `BMF_EXAMPLE` below.
- github-action-benchmark, README "Examples" for `customSmallerIsBetter` / `customBiggerIsBetter`
  (github.com/benchmark-action/github-action-benchmark): a JSON array of objects with string `name`,
  string `unit`, number `value`, optional strings `range` and `extra`. Its example is `GAB_EXAMPLE`.
- pytest-benchmark's JSON: the installed pytest-benchmark is the validator (its `Stats.fields`, and
  its own `pytest-benchmark compare FILE` must render the file).
"""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reportlib import make_run
from twinbench.core.errors import ConfigError, RunDirError
from twinbench.reports.export import FORMATS, benchmark_name, export_run, export_text, exported_rows
from twinbench.reports.pytest_benchmark import to_run_dir
from twinbench.reports.tables import load_run

ROOT = Path(__file__).resolve().parents[2]
#: Bencher's own BMF example (reference page, as published).
BMF_EXAMPLE = {"benchmark_name": {"latency": {"value": 88.0, "lower_value": 87.42, "upper_value": 88.88}}}
#: github-action-benchmark's README example for a custom tool (as published).
GAB_EXAMPLE = [
    {"name": "My Custom Smaller Is Better Benchmark - CPU Load", "unit": "Percent", "value": 50},
    {"name": "My Custom Smaller Is Better Benchmark - Memory Used", "unit": "Megabytes", "value": 100,
     "range": "3", "extra": "Value for Tooltip: 25\nOptional Num #2: 100\nAnything Else!"},
]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_bmf(doc: Any) -> list[str]:
    """What in `doc` is not Bencher Metric Format (empty when it is)."""
    errors = []
    if not isinstance(doc, dict):
        return ["top level is not an object"]
    for name, measures in doc.items():
        if not isinstance(name, str) or not name:
            errors.append(f"benchmark name {name!r}")
        if not isinstance(measures, dict) or not measures:
            errors.append(f"{name}: measures are not a non-empty object")
            continue
        for slug, metric in measures.items():
            if not isinstance(slug, str) or not slug or slug != slug.lower() or " " in slug:
                errors.append(f"{name}: measure slug {slug!r}")
            if not isinstance(metric, dict) or "value" not in metric:
                errors.append(f"{name}/{slug}: no value")
                continue
            extra = set(metric) - {"value", "lower_value", "upper_value"}
            if extra:
                errors.append(f"{name}/{slug}: unknown keys {sorted(extra)}")
            for key in ("value", "lower_value", "upper_value"):
                if key in metric and not _number(metric[key]):
                    errors.append(f"{name}/{slug}: {key} is not a finite number")
            if all(_number(metric.get(k)) for k in ("value", "lower_value")) and metric["lower_value"] > metric["value"]:
                errors.append(f"{name}/{slug}: lower_value above value")
            if all(_number(metric.get(k)) for k in ("value", "upper_value")) and metric["upper_value"] < metric["value"]:
                errors.append(f"{name}/{slug}: upper_value below value")
    return errors


def check_gab(doc: Any) -> list[str]:
    """What in `doc` is not github-action-benchmark custom-tool JSON (empty when it is)."""
    if not isinstance(doc, list):
        return ["top level is not an array"]
    errors = []
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict):
            errors.append(f"[{i}] is not an object")
            continue
        for key in ("name", "unit"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                errors.append(f"[{i}].{key} is not a non-empty string")
        if not _number(entry.get("value")):
            errors.append(f"[{i}].value is not a finite number")
        for key in ("range", "extra"):
            if key in entry and not isinstance(entry[key], str):
                errors.append(f"[{i}].{key} is not a string")
        if set(entry) - {"name", "unit", "value", "range", "extra"}:
            errors.append(f"[{i}] has unknown keys {sorted(set(entry) - {'name', 'unit', 'value', 'range', 'extra'})}")
    names = [e.get("name") for e in doc if isinstance(e, dict)]
    if len(names) != len(set(names)):
        errors.append("names are not unique (the action keys its charts by name)")
    return errors


def test_validators_accept_the_published_examples_and_reject_broken_ones() -> None:
    assert check_bmf(BMF_EXAMPLE) == [] and check_gab(GAB_EXAMPLE) == []
    assert check_bmf({"b": {"latency": {"lower_value": 1.0}}}) and check_bmf({"b": {"latency": {"value": "1"}}})
    assert check_bmf({"b": {"latency": {"value": 2.0, "upper_value": 1.0}}}) and check_bmf([BMF_EXAMPLE])
    assert check_gab([{"name": "a", "unit": "ms", "value": float("nan")}]) and check_gab(GAB_EXAMPLE[:1] * 2)
    assert check_gab({"name": "a"}) and check_gab([{"name": "a", "unit": "ms", "value": 1, "range": 3}])


@pytest.fixture
def run(tmp_path: Path) -> Any:
    return load_run(make_run(tmp_path))


def _parse(run: Any, fmt: str) -> Any:
    text = export_text(run, fmt)
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: dashboards' parsers refuse both
    return json.loads(text)


def test_bencher_export_is_bmf(run: Any) -> None:
    text = export_text(run, "bencher")
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert check_bmf(doc) == []
    rows = exported_rows(run)
    assert len(doc) == len(rows) and all(r["status"] == "ok" for r in rows)
    assert not any(r["status"] in ("invalid", "failed", "skipped") for r in rows)
    row = rows[0]
    latency = doc[benchmark_name(row)]["latency"]
    assert latency["value"] == pytest.approx(row["p50_ms"] * 1e6)  # Bencher's latency is in nanoseconds
    assert doc[benchmark_name(row)]["throughput"]["value"] == pytest.approx(row["throughput_sps"])


def test_gab_exports_are_custom_tool_json(run: Any) -> None:
    smaller, bigger = _parse(run, "gab"), _parse(run, "gab-throughput")
    assert check_gab(smaller) == [] and check_gab(bigger) == []
    assert {e["unit"] for e in smaller} == {"ms"} and {e["unit"] for e in bigger} == {"sequences/s"}
    assert [e["name"] for e in smaller] == [e["name"] for e in bigger] == [benchmark_name(r) for r in exported_rows(run)]
    assert all(e["extra"].startswith(f"run: {run.run_id}") for e in smaller)


def test_pytest_benchmark_export_follows_pytest_benchmarks_own_fields(run: Any) -> None:
    from pytest_benchmark.stats import Stats

    doc = _parse(run, "pytest-benchmark")
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(doc)
    for bench in doc["benchmarks"]:
        assert {"group", "name", "fullname", "params", "param", "extra_info", "options", "stats"} <= set(bench)
        assert set(Stats.fields) <= set(bench["stats"]), set(Stats.fields) - set(bench["stats"])
        assert all(_number(bench["stats"][k]) for k in Stats.fields if k != "outliers")
        s = bench["stats"]
        assert s["min"] <= s["q1"] <= s["q3"] <= s["max"] and s["ops"] == pytest.approx(1 / s["mean"])


def test_pytest_benchmark_export_renders_in_pytest_benchmark_itself(run: Any, tmp_path: Path) -> None:
    out = tmp_path / "export.json"
    export_run(run.path, "pytest-benchmark", out)
    res = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert benchmark_name(exported_rows(run)[0]) in res.stdout


def test_pytest_benchmark_export_round_trips_through_twinbenchs_reader(run: Any, tmp_path: Path) -> None:
    """Export, read back as a run directory: the same cells with the same headline figures."""
    out = tmp_path / "export.json"
    export_run(run.path, "pytest-benchmark", out)
    back = load_run(to_run_dir(out))
    key = ["twin", "artifact", "exporter", "source", "precision", "runtime", "device", "batch", "seq_len", "threads"]
    want = {tuple(str(r[k]) for k in key): r for r in exported_rows(run)}
    got = {tuple(str(r[k]) for k in key): r for r in back.results.to_dict("records")}
    assert set(got) == set(want)
    for cell, r in want.items():
        g = got[cell]
        for col in ("p50_ms", "min_ms", "max_ms", "mean_ms", "std_ms"):
            assert g[col] == pytest.approx(r[col], rel=1e-9), (cell, col)
        assert g["throughput_sps"] == pytest.approx(r["batch"] / (r["p50_ms"] / 1e3), rel=1e-9)
        assert g["benchmark"] == benchmark_name(r) and g["group"] == r["twin"]


def test_plain_pytest_benchmarks_keep_their_names_through_an_export(tmp_path: Path) -> None:
    """A pytest-benchmark file with per-round data, converted and exported again: its group, name
    and params come back; without per-round data the export says why it cannot write stats."""
    data = [0.0010, 0.0011, 0.0012, 0.0010, 0.0013, 0.0011, 0.0010, 0.0012]
    bench = {"group": "sorting", "name": "test_sort[10]", "fullname": "t.py::test_sort[10]", "params": {"n": 10},
             "param": "10", "extra_info": {}, "options": {},
             "stats": {"data": data, "min": min(data), "max": max(data), "mean": sum(data) / 8, "stddev": 0.0001,
                       "median": 0.0011, "rounds": 8, "total": sum(data)}}
    doc = {"machine_info": {"node": "h", "cpu": {"brand_raw": "Some CPU", "count": 4}, "system": "Linux",
                            "machine": "x86_64", "python_version": "3.11.7"},
           "commit_info": {"id": "abc"}, "datetime": "2026-11-23T14:00:00", "version": "5.1.0", "benchmarks": [bench]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    out = json.loads(export_run(tmp_path / "s.json", "pytest-benchmark"))
    again = out["benchmarks"][0]
    assert (again["group"], again["name"], again["fullname"], again["params"]) == \
        ("sorting", "test_sort[10]", "t.py::test_sort[10]", {"n": 10})
    assert "twinbench_twin" not in again["extra_info"]  # it never was a twinbench cell
    assert check_bmf(json.loads(export_run(tmp_path / "s.json", "bencher"))) == []
    assert list(json.loads(export_run(tmp_path / "s.json", "gab"))[0]["name"].split("::")) == ["sorting", "test_sort[10]"]
    del bench["stats"]["data"]
    (tmp_path / "nodata.json").write_text(json.dumps(doc))
    with pytest.raises(RunDirError, match="no per-call samples"):
        export_run(tmp_path / "nodata.json", "pytest-benchmark")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    with pytest.raises(ConfigError, match="unknown export format 'csv'.*bencher"):
        export_run(run_dir, "csv")
    assert set(FORMATS) == {"bencher", "gab", "gab-throughput", "pytest-benchmark"}
    cli = [sys.executable, "-m", "twinbench", "export"]
    bad = subprocess.run(cli + [str(run_dir), "--format", "csv"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown export format" in bad.stderr
    gone = subprocess.run(cli + [str(tmp_path / "none"), "-f", "gab"], capture_output=True, text=True, timeout=120)
    assert gone.returncode == 2 and "not found" in gone.stderr and "Traceback" not in gone.stderr


def test_cli_writes_the_file_it_is_given(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    out = tmp_path / "ci" / "bmf.json"
    res = subprocess.run([sys.executable, "-m", "twinbench", "export", str(run_dir), "--format", "bencher",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"export: {out}" and check_bmf(json.loads(out.read_text())) == []
    piped = subprocess.run([sys.executable, "-m", "twinbench", "export", str(run_dir), "-f", "gab"],
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and check_gab(json.loads(piped.stdout)) == []


def _ci_commands() -> list[str]:
    """The twinbench command lines of docs/ci.md's YAML snippets (shell redirections cut off)."""
    doc = (ROOT / "docs" / "ci.md").read_text()
    out = []
    for block in re.findall(r"```yaml\n(.*?)```", doc, flags=re.S):
        for m in re.finditer(r"twinbench ((?:run|compare|gate|export|history|bench|report|parity)\b[^;>|\n]*)", block):
            part = m.group(1).strip()
            out.append(part.rstrip('"').strip() if part.count('"') % 2 else part)
    return out


def test_ci_doc_commands_parse_with_the_real_cli() -> None:
    """Every twinbench line of the CI snippets is accepted by the CLI's own parser (verbs, options)."""
    import click
    from typer.main import get_command

    from twinbench.cli import app

    lines = _ci_commands()
    assert {line.split()[0] for line in lines} >= {"run", "gate", "export"}
    group = get_command(app)
    for line in lines:
        argv = [a.replace("$RUN", "runs/x") for a in shlex.split(line)]
        with click.Context(group) as ctx:
            verb = group.get_command(ctx, argv[0])
            assert verb is not None, line
            try:
                verb.make_context(argv[0], argv[1:], parent=ctx)
            except click.ClickException as exc:
                pytest.fail(f"docs/ci.md: {line}: {exc.format_message()}")
    formats = {line.split("--format")[1].split()[0] for line in lines if "--format" in line}
    assert formats <= set(FORMATS) and {"gab", "bencher", "pytest-benchmark"} <= formats
