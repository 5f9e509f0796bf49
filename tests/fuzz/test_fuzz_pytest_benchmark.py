"""Fuzz: pytest-benchmark JSON (`--benchmark-json`), as teams carry it between CI jobs, through
`report`, `compare` and `export` (reports/pytest_benchmark.py reads it). A well-formed session is
broken: any field set to a value of another type (extra_info and machine_info as lists, stats as
text...), removed, or given odd numbers (NaN, infinities, negatives in `stats.data`). Each example
reaches a verdict or one line with exit 2, and a refused file leaves no converted folder behind."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzlib import CASES, NASTY_NUMBERS, cli, fuzz_settings, junk, mutate, paths

pytestmark = pytest.mark.slow


def session(seed: int = 0) -> dict:
    """A pytest-benchmark session with a twinbench cell (the fixture's extra_info) and a plain one."""
    def stats(base: float) -> dict:
        data = [base * (1 + 0.01 * ((i * 7 + seed) % 5)) for i in range(6)]
        return {"min": min(data), "max": max(data), "mean": sum(data) / 6, "stddev": base * 0.01,
                "median": sorted(data)[3], "rounds": 6, "iterations": 1, "total": sum(data), "data": data}

    return {
        "machine_info": {"node": "ci-1", "processor": "x86_64", "machine": "x86_64", "python_version": "3.11.7",
                         "release": "6.1", "system": "Linux", "cpu": {"brand_raw": "Test CPU", "count": 2}},
        "commit_info": {"id": "abc123", "dirty": False, "branch": "main"},
        "benchmarks": [
            {"group": "lstm", "name": "test_lstm_ort", "fullname": "tests/test_b.py::test_lstm_ort",
             "params": {"batch": 1}, "options": {"disable_gc": False}, "stats": stats(0.002),
             "extra_info": {"twinbench_runtime": "ort-cpu", "twinbench_batch": 1, "twinbench_seq_len": 8,
                            "twinbench_threads": 1, "twinbench_artifact": "torch-script"}},
            {"group": None, "name": "test_plain", "fullname": "tests/test_b.py::test_plain", "params": None,
             "options": {}, "stats": stats(0.0005), "extra_info": {}},
        ],
        "datetime": "2026-12-01T10:00:00", "version": "5.1.0",
    }


@fuzz_settings(20)
@given(data=st.data(), command=st.sampled_from(["report", "compare", "compare-json", "export"]))
def test_any_pytest_benchmark_file_reaches_a_verdict_or_one_line(data: st.DataObject, command: str) -> None:
    doc = session()
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        where = data.draw(st.sampled_from(paths(doc)), label="path")
        how = data.draw(st.sampled_from(["set", "set", "delete", "add", "number"]), label="how")
        if how == "number":  # an odd number where a number was: NaN, infinities, negatives, huge
            doc = mutate(doc, where, "set", data.draw(st.sampled_from(NASTY_NUMBERS), label="value"))
        else:
            doc = mutate(doc, where, how, data.draw(junk, label="value"))
    CASES["pytest-benchmark"] += 1
    with tempfile.TemporaryDirectory(prefix="tb-fuzz-pb-") as tmp:
        work = Path(tmp)
        (work / "base.json").write_text(json.dumps(session(1)))
        (work / "cand.json").write_text(json.dumps(doc))  # Python's json writes NaN and Infinity as JS does
        if command == "report":
            proc = cli(work, "report", "cand.json", allowed=(0, 2))
        elif command == "compare":
            proc = cli(work, "compare", "base.json", "cand.json", allowed=(0, 1, 2))
        elif command == "compare-json":
            proc = cli(work, "compare", "cand.json", "base.json", "--json", allowed=(0, 1, 2))
        else:
            proc = cli(work, "export", "cand.json", "--format", "bencher", allowed=(0, 2))
        if proc.returncode == 2 and "cand.json" in proc.stderr:  # the file itself refused: nothing left of it
            assert not (work / "cand.twinbench").exists(), "a refused file left a half-made folder"
