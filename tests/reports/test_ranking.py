"""Realistic sizes (issue 23): size presets, and the report's runtime ranking next to a baseline run."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportlib import make_run
from twinbench.config import load_config
from twinbench.core.errors import ConfigError, RunDirError
from twinbench.presets import SIZE_PRESETS, preset_config
from twinbench.reports.markdown import render_markdown
from twinbench.reports.ranking import ranking_rows, save_baseline
from twinbench.reports.tables import load_run


def test_presets_are_the_seeds_textbook_sizes_under_the_config_and_the_command_line(tmp_path: Path) -> None:
    cfg = load_config(preset="imdb-bilstm")
    (twin,) = cfg.twins
    assert twin.name == "bilstm" and dict(twin.overrides) == {
        "vocab_size": 20000, "embed_dim": 128, "hidden": 64, "num_layers": 2, "head": "sigmoid", "num_classes": 1}
    assert cfg.data.max_len == 200 and cfg.data.source == "synthetic-sentiment"
    lstm = load_config(preset="mr-lstm300").twins[0]
    assert lstm.name == "lstm" and lstm.overrides["embed_dim"] == 300 and lstm.overrides["num_layers"] == 2
    assert load_config(preset="bert-mini").twins[0].overrides["num_layers"] == 4
    (tmp_path / "c.toml").write_text("batches = [4]\n[data]\nsize = 300\n")
    mine = load_config(tmp_path / "c.toml", {"runtimes": ("ort-cpu",)}, preset="imdb-bilstm")
    assert mine.batches == (4,) and mine.data.size == 300 and mine.data.max_len == 200  # tables merge key by key
    assert mine.runtimes == ("ort-cpu",) and mine.twins[0].name == "bilstm"
    with pytest.raises(ConfigError, match="unknown preset 'big'.*imdb-bilstm"):
        preset_config("big")
    assert set(SIZE_PRESETS) == {"imdb-bilstm", "mr-lstm300", "bert-mini"}


def test_the_bilstm_preset_has_the_textbook_parameter_count() -> None:
    from twinbench.models.params import param_table
    from twinbench.models.registry import get_twin

    overrides = dict(load_config(preset="imdb-bilstm").twins[0].overrides)
    total = param_table(get_twin("bilstm", **overrides)).set_index("layer").loc["total"]
    assert int(total["keras"]) == 2_757_761  # model.summary() of the seed notebook


def test_the_report_ranks_runtimes_next_to_the_baseline(tmp_path: Path) -> None:
    """A run where ort-cpu is 50x slower than in the baseline: it falls in the ranking, and the
    report says so per batch size; without a baseline there is no such section."""
    base = make_run(tmp_path / "a", "base")
    run = make_run(tmp_path / "b", "big", slowdown=50.0)
    assert "Ranking vs the baseline" not in render_markdown(load_run(run))
    save_baseline(run, base)
    md = render_markdown(load_run(run))
    assert "## Ranking vs the baseline (base)" in md
    section = md.split("## Ranking vs the baseline")[1].split("\n## ")[0]
    assert "fastest: ort-cpu at the baseline size" in section and "down" in section and "50.00x" in section
    with pytest.raises(RunDirError):
        save_baseline(run, tmp_path / "nowhere")


def test_ranking_rows_compare_ranks_per_batch_over_shared_runtimes() -> None:
    now = [{"batch": 1, "runtime": "a", "p50_ms": 2.0, "artifact": "x", "seq_len": 200},
           {"batch": 1, "runtime": "b", "p50_ms": 1.0, "artifact": "y", "seq_len": 200},
           {"batch": 1, "runtime": "c", "p50_ms": 0.5, "artifact": "z", "seq_len": 200}]
    base = [{"batch": 1, "runtime": "a", "p50_ms": 0.01, "artifact": "x", "seq_len": 16},
            {"batch": 1, "runtime": "b", "p50_ms": 0.02, "artifact": "y", "seq_len": 16},
            {"batch": 32, "runtime": "a", "p50_ms": 0.1, "artifact": "x", "seq_len": 16}]
    rows = ranking_rows(now, base)[1]
    assert [(r["runtime"], r["rank"], r["base_rank"], r["moved"]) for r in rows] == [("b", 1, 2, 1), ("a", 2, 1, -1)]
    assert rows[1]["ratio"] == pytest.approx(200.0) and list(ranking_rows(now, base)) == [1]


def test_report_baseline_option_adds_the_section_and_refuses_a_non_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    base = make_run(tmp_path / "a", "base")
    run = make_run(tmp_path / "b", "big", slowdown=50.0)
    proc = subprocess.run([sys.executable, "-m", "twinbench", "report", str(run), "--baseline", str(base)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## Ranking vs the baseline (base)" in (run / "report.md").read_text()
    bad = subprocess.run([sys.executable, "-m", "twinbench", "report", str(run), "--baseline", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.startswith("twinbench: error:")


def test_a_runtime_with_only_invalid_cells_is_ranked_and_marked_an_ok_cell_wins_over_a_faster_invalid_one() -> None:
    import pandas as pd

    from twinbench.reports.ranking import best_per_runtime
    from twinbench.reports.sections import _ranked_p50

    cell = {"batch": 1, "seq_len": 200, "twin": "bilstm"}
    results = pd.DataFrame([
        {**cell, "runtime": "keras-eager", "artifact": "keras", "status": "invalid", "p50_ms": 1123.0},
        {**cell, "runtime": "ort-cpu", "artifact": "tf2onnx", "status": "invalid", "p50_ms": 0.9},
        {**cell, "runtime": "ort-cpu", "artifact": "torch-script", "status": "ok", "p50_ms": 1.2},
        {**cell, "runtime": "torch", "artifact": "torch", "status": "failed", "p50_ms": float("nan")}])
    best = {r["runtime"]: r for r in best_per_runtime(results)}
    assert set(best) == {"keras-eager", "ort-cpu"}
    assert (best["ort-cpu"]["artifact"], best["ort-cpu"]["status"]) == ("torch-script", "ok")
    assert best["keras-eager"]["status"] == "invalid"
    rows = ranking_rows(list(best.values()), [{**r, "p50_ms": r["p50_ms"] / 50} for r in best.values()])[1]
    assert [(r["runtime"], r["status"]) for r in rows] == [("ort-cpu", "ok"), ("keras-eager", "invalid")]
    assert _ranked_p50(1123.0, "invalid") == "1123 (invalid)" and _ranked_p50(1.2, "ok") == "1.2"
