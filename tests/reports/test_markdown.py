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
    assert "invalid: cv 0.620 > max_cv 0.5" in md
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
