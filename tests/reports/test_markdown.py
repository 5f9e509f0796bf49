"""render_markdown: every section present, every table well-formed GitHub-flavoured Markdown."""

from __future__ import annotations

from pathlib import Path

from twinbench.reports.format import md_table
from twinbench.reports.markdown import render_markdown
from twinbench.reports.tables import load_run

from reportlib import assert_valid_tables, make_run


def test_sections_and_tables(run_dir: Path) -> None:
    md = render_markdown(load_run(run_dir))
    for heading in ("# twinbench report: ", "## Parity", "## Speed", "## Training",
                    "## Skipped, failed and invalid cells", "### Library versions"):
        assert heading in md
    assert "**Overall verdict: PASS**" in md
    assert "#### lstm: batch 32, seq_len 64" in md
    assert "invalid: spread (IQR/median) 0.620 > max_spread 0.5" in md
    assert "shape mismatch" in md and "\\| shape mismatch" in md  # '|' in an error is escaped
    assert "no CUDA device here" in md
    assert "1.00x" in md
    assert assert_valid_tables(md) > 10


def test_fastest_ranked_first(run_dir: Path) -> None:
    md = render_markdown(load_run(run_dir))
    block = md.split("#### mlp: batch 1, seq_len 16")[1].split("####")[0]
    rows = [r for r in block.splitlines() if r.startswith("| 1 ") or r.startswith("| 2 ")]
    assert "1.00x" in rows[0]


def test_failing_parity_listed(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, extra_parity=1e3))
    md = render_markdown(run)
    assert "**Overall verdict: FAIL**" in md
    assert "### Failures" in md
    assert_valid_tables(md)


def test_md_table_escapes_and_pads() -> None:
    t = md_table(["a", "b"], [["x|y", "line\nbreak"], ["only one"]])
    assert assert_valid_tables(t + "\n") == 1
    assert "x\\|y" in t and "line break" in t


def test_twins_section_shows_config_and_explained_param_counts(run_dir: Path) -> None:
    """From a real params table and the native sidecar; absent tables leave the section out."""
    import json

    import pandas as pd

    from twinbench.models.params import param_table
    from twinbench.models.registry import get_twin
    from twinbench.core.tables import write_table

    assert "## Twins" not in render_markdown(load_run(run_dir))
    twin = get_twin("lstm", vocab_size=40, hidden=8)
    params = param_table(twin)
    params.insert(0, "twin", "lstm")
    params.insert(0, "run_id", "x")
    write_table(params, run_dir, "params")
    side = run_dir / "artifacts" / "lstm" / "torch.pt.json"
    side.parent.mkdir(parents=True, exist_ok=True)
    side.write_text(json.dumps({"twin": "lstm", "twin_config": {"vocab_size": 40, "hidden": 8,
                                                                "embedding_matrix": None}}))
    run = load_run(run_dir)
    assert isinstance(run.params, pd.DataFrame) and set(run.params.twin) == {"lstm"}
    md = render_markdown(run)
    section = md.split("## Twins")[1].split("## Parity")[0]
    assert "config: hidden=8, vocab_size=40" in section  # None values are not shown
    total = next(r for r in section.splitlines() if r.startswith("| total"))
    assert "| 32 |" in total and "bias_hh" in total  # torch's second LSTM bias: 4 x hidden
    assert_valid_tables(md)


def test_the_report_leads_with_the_answer_and_ends_with_metadata(run_dir: Path) -> None:
    """Summary (the one line, parity, cells, fastest per shape, failed and invalid cells) before any
    detail; the run's metadata last."""
    from twinbench.reports.lead import lead, summary_line

    run = load_run(run_dir)
    md = render_markdown(run)
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads[0] == "## Summary" and heads[-1] == "## Run and machine"
    assert heads.index("## Parity") < heads.index("## Speed") < heads.index("## Skipped, failed and invalid cells")
    summary = md.split("## Summary")[1].split("## Parity")[0]
    line = summary_line(lead(run))
    assert f"> {line}" in summary and "\n" not in line
    assert "**Parity: PASS**" in summary and "**Cells:** 69 ok, 1 invalid, 2 failed, 1 skipped." in summary
    assert "### Fastest per shape" in summary and "### Failed and invalid cells" in summary
    assert "| failed | mlp/tf2onnx on openvino cpu, batch 32, seq_len 16, 1 thread |" in summary
    assert "| invalid | lstm/keras on tf-function cpu, batch 1, seq_len 16, 1 thread |" in summary
    assert "### Changes against" not in summary  # no baseline given
    assert_valid_tables(md)


def test_fastest_per_shape_is_the_smallest_ok_p50_with_its_margin(run_dir: Path) -> None:
    from twinbench.reports.lead import fastest

    run = load_run(run_dir)
    found = {f.shape: f for f in fastest(run)}
    res = run.results
    ok = res[(res["status"] == "ok") & res["p50_ms"].notna() & (res["twin"] == "mlp") & (res["batch"] == 32)
             & (res["seq_len"] == 16)].sort_values("p50_ms")
    f = found["mlp, batch 32, seq_len 16"]
    best, second = ok.iloc[0], ok.iloc[1]
    assert f.winner == f"{best['runtime']} ({best['artifact']})" and f.p50_ms == best["p50_ms"]
    assert f.runner_up == f"{second['runtime']} ({second['artifact']})"
    assert abs(f.margin - second["p50_ms"] / best["p50_ms"]) < 1e-12 and f.contenders == len(ok)
    assert len(found) == 12  # 2 twins x 3 batches x 2 lengths; the invalid cell never wins


def test_changes_against_a_baseline_lead_the_report(tmp_path: Path) -> None:
    from twinbench.reports.build import build

    base = make_run(tmp_path)
    cand = make_run(tmp_path, "20261124-140000-bbbbbb", seed=1, slowdown=1.3)
    built = build(cand, baseline=base)
    md = built.report_md.read_text()
    summary = md.split("## Summary")[1].split("## Parity")[0]
    assert f"### Changes against {base.name}" in summary
    rows = [r for r in summary.splitlines() if r.startswith("| REGRESSION")]
    assert rows and all(" on ort-cpu " in r for r in rows) and len(rows) <= 20
    assert built.lead.changes is not None and built.lead.changes.verdicts["REGRESSION"] >= len(rows)
    assert f"vs {base.name}: " in md.splitlines()[4] and "REGRESSION" in md.splitlines()[4]
    assert_valid_tables(md)


def test_a_pytest_benchmark_file_leads_with_its_own_names(tmp_path: Path) -> None:
    """A converted pytest-benchmark file: the fastest per group by benchmark name, never runtime `python`."""
    import json

    from twinbench.reports.build import build

    benches = [{"group": "sorting", "name": f"test_sort[{n}]", "fullname": f"t.py::test_sort[{n}]",
                "params": {"n": n}, "param": str(n), "extra_info": {}, "options": {},
                "stats": {"min": 0.0009 * n, "max": 0.0015 * n, "mean": 0.0011 * n, "stddev": 0.0001,
                          "median": 0.001 * n, "rounds": 50, "total": 0.055 * n}} for n in (10, 100)]
    doc = {"machine_info": {"node": "h", "cpu": {"brand_raw": "Some CPU", "count": 4}, "system": "Linux",
                            "machine": "x86_64", "python_version": "3.11.7"},
           "commit_info": {"id": "abc"}, "datetime": "2026-11-23T14:00:00", "version": "5.1.0", "benchmarks": benches}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    built = build(tmp_path / "a.json")
    (f,) = built.lead.fastest
    assert f.shape == "group sorting" and f.winner == "test_sort[10] n=10" and f.runner_up == "test_sort[100] n=100"
    assert abs(f.margin - 10.0) < 1e-9
    md = built.report_md.read_text()
    line = md.split("## Summary")[1].split("\n> ")[1].splitlines()[0]
    assert "no parity checks" in line and "test_sort[10] n=10" in line and "python" not in line
