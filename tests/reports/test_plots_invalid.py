"""Plots of report.html: invalid cells are marked in every timing plot, the calibration pseudo-twin
is never drawn as a twin, and the legends are one readable block under the plots."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from twinbench.reports.plots import INVALID_COLOR, INVALID_LABEL, LEGEND_SIZE, PLOTS
from twinbench.reports.sections import CALIBRATION, Figure, report_blocks
from twinbench.core.tables import write_table
from twinbench.reports.tables import load_run

#: One cell made invalid: the smallest batch at the longest sequence, so the distribution and throughput
#: plots (longest sequence) have it too; the fixture's own invalid cell is at seq_len 16.
INVALID = {"twin": "lstm", "runtime": "ort-cpu", "batch": 1, "seq_len": 64}


@pytest.fixture
def run(run_dir: Path) -> object:
    res = pd.read_parquet(run_dir / "results.parquet")
    hit = pd.Series(True, index=res.index)
    for k, v in INVALID.items():
        hit &= res[k] == v
    hit &= res["status"] == "ok"
    assert hit.any()
    first = res.index[hit][0]
    res.loc[first, ["status", "error"]] = ["invalid", "invalid: spread 0.8 > max_spread 0.5"]
    cal = res.loc[[first]].assign(twin=CALIBRATION, artifact="calibration", status="ok", error="")
    write_table(pd.concat([res, cal], ignore_index=True), run_dir, "results")
    return load_run(run_dir)


def _legend_texts(fig: object) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_no_plot_for_the_calibration_pseudo_twin(run: object) -> None:
    figures = [b for b in report_blocks(run) if isinstance(b, Figure)]
    assert figures and CALIBRATION not in {f.twin for f in figures}


@pytest.mark.parametrize("kind", ["latency_vs_batch", "latency_vs_seq"])
def test_line_plots_cross_out_invalid_cells(run: object, kind: str) -> None:
    fig = PLOTS[kind](run, "lstm")
    crosses = [ln for ax in fig.axes for ln in ax.get_lines()
               if ln.get_marker() == "x" and ln.get_color() == INVALID_COLOR]
    res = run.results
    invalid = res[(res["twin"] == "lstm") & (res["status"] == "invalid")]
    assert len(invalid) == 2  # the fixture's own invalid keras cell and the one made here
    assert sum(len(ln.get_xdata()) for ln in crosses) == len(invalid)
    assert INVALID_LABEL in _legend_texts(fig)
    assert all(t.get_fontsize() >= LEGEND_SIZE for leg in fig.legends for t in leg.get_texts())
    assert not any(ax.get_legend() for ax in fig.axes)  # one legend for the figure, under the plots


def test_throughput_hatches_invalid_bars_and_distribution_names_them(run: object) -> None:
    fig = PLOTS["throughput"](run, "lstm")
    hatched = [p for p in fig.axes[0].patches if p.get_hatch()]
    assert len(hatched) == 1 and INVALID_LABEL in _legend_texts(fig)
    fig = PLOTS["distribution"](run, "lstm")
    red = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_color() == INVALID_COLOR]
    assert len(red) == 1 and red[0].endswith("(INVALID)") and "ort-cpu" in red[0]


def test_no_invalid_mark_without_an_invalid_cell(run_dir: Path) -> None:
    run = load_run(run_dir)  # the fixture's mlp twin has no invalid cell
    assert not (run.results[run.results["twin"] == "mlp"]["status"] == "invalid").any()
    for kind in ("latency_vs_batch", "throughput"):
        assert INVALID_LABEL not in _legend_texts(PLOTS[kind](run, "mlp"))
