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
