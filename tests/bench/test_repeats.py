"""Repeats across processes: rounds with the machine-state probe, interleaving, and the headline
figure over processes (bench/timing.py measure_rounds, bench/cells.py with_repeats, bench/repeats.py)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from twinbench.bench.cells import CellSpec, with_repeats
from twinbench.bench.repeats import aggregate, fast_level, is_fast, process_figure
from twinbench.bench.runner import CellRun
from twinbench.bench.timing import TimingPlan, measure_rounds
from twinbench.exporters.artifact import Artifact
from twinbench.core.layout import RunDir


def test_measure_rounds_probes_between_rounds_and_accounts_every_sample() -> None:
    probes = []

    def probe() -> tuple[int, int]:
        probes.append(1)
        return 50_000, 6_000

    plan = TimingPlan(min_iters=10, min_s=0.12, max_s=1.0, round_s=0.03)
    ns, rounds = measure_rounds(lambda: sum(range(200)), None, plan, probe=probe)
    assert rounds.shape[1] == 4 and len(rounds) == len(probes) >= 4
    assert rounds[:, 3].sum() == ns.size and (rounds[:, 0] == 50_000).all()
    assert (np.diff(rounds[:, 2]) == rounds[:-1, 3]).all()  # rounds tile the samples in order
    assert ns.sum() / 1e9 >= 0.1


def test_the_real_probe_is_cheap_and_positive() -> None:
    from twinbench.bench.probe import probe

    py, npy = probe()
    assert 0 < py < 50_000_000 and 0 < npy < 50_000_000


def _spec(cell_id: str, repeat: int = 0) -> CellSpec:
    art = Artifact("torch-script", "onnx", "artifacts/lstm/torch-script.onnx", "lstm", "torch", exporter="torch-script")
    return CellSpec(cell_id=cell_id, run_dir=".", artifact=art.to_dict(), runtime="ort-cpu", device="cpu", batch=1,
                    seq_len=8, threads=1, plan=TimingPlan(repeats=3).to_dict(), repeat=repeat,
                    parity_inputs="artifacts/lstm/parity_inputs.npz")


def test_repeats_are_interleaved_round_robin() -> None:
    out = with_repeats([_spec("a"), _spec("b")], 3)
    assert [(s.cell_id, s.repeat) for s in out] == [("a", 0), ("b", 0), ("a.r1", 1), ("b.r1", 1), ("a.r2", 2),
                                                    ("b.r2", 2)]
    assert out[0].parity_inputs and all(s.parity_inputs is None for s in out[2:])  # outputs once


def test_states_and_process_figures() -> None:
    probes = [50, 51, 49, 90, 88, 52, 91]
    level = fast_level(probes)
    assert 49 <= level <= 51
    assert is_fast(probes, level).tolist() == [True, True, True, False, False, True, False]
    fig = process_figure([1.0, 1.02, 1.5, 0.98], [True, True, False, True])
    assert fig.fast_p50_ms == pytest.approx(0.98) and (fig.rounds, fig.fast_rounds) == (4, 3)  # lowest fast round
    assert math.isnan(process_figure([1.5], [False]).fast_p50_ms)


def test_aggregate_takes_fast_state_figures_over_processes(tmp_path) -> None:
    """Three processes; the second ran mostly in the slow state (probe 90 us, calls 1.5x). The
    headline is the median of fast-state process medians, so the slow rounds do not move it."""
    import pandas as pd

    layout = RunDir(tmp_path).ensure()
    specs, rows = [], []
    rng = np.random.default_rng(0)
    for r, slow_rounds in enumerate([(), (0, 1, 2), (3,)]):
        spec = dataclasses.replace(_spec("c" if r == 0 else f"c.r{r}", r), run_dir=str(tmp_path), base_id="c")
        parts, rounds = [], []
        for k in range(4):
            slow = k in slow_rounds
            part = (rng.normal(1.5e6 if slow else 1.0e6, 1e3, 100)).astype(np.int64)
            rounds.append([90_000 if slow else 50_000, 6_000, k * 100, 100])
            parts.append(part)
        files = layout.cell(spec.cell_id)
        np.save(files.samples, np.concatenate(parts))
        np.save(files.rounds, np.array(rounds, dtype=np.int64))
        specs.append(spec)
        rows.append({**spec.key_row(), "status": "ok", "error": "", "p50_ms": 1.2, "iterations": 400})
    results, repeats, rounds = aggregate([CellRun(s, row) for s, row in zip(specs, rows)])
    assert len(results) == 1 and len(repeats) == 3 and len(rounds) == 12
    row = results.iloc[0]
    assert row["p50_ms"] == pytest.approx(1.0, rel=2e-3) and row["repeats"] == 3
    assert row["state_fast"] == pytest.approx(8 / 12) and "fast state" in row["headline"]
    assert row["status"] == "ok" and row["between_spread"] < 0.01 and row["mde"] > 0
    assert rounds["fast"].tolist().count(True) == 8


def test_a_process_waits_for_the_fast_state_it_was_told_about() -> None:
    """The machine is slow for the first 8 rounds (probe 90 us), then fast (50 us). Told the fast
    state's probe time, the process measures past min_s until it has 3 fast rounds; not told, it
    stops at min_s with none."""
    def machine():
        state = {"n": 0}

        def probe() -> tuple[int, int]:
            state["n"] += 1
            return (90_000 if state["n"] <= 8 else 50_000), 6_000

        return probe

    plan = TimingPlan(min_iters=1, min_s=0.02, max_s=2.0, round_s=0.01)
    _, told = measure_rounds(lambda: None, None, plan, probe=machine(), fast_probe_ns=50_000)
    assert (told[:, 0] == 50_000).sum() == 3 and len(told) == 11
    _, blind = measure_rounds(lambda: None, None, plan, probe=machine())
    assert (blind[:, 0] == 50_000).sum() == 0 and len(blind) <= 3
    plan = TimingPlan(min_iters=1, min_s=0.02, max_s=0.05, round_s=0.01)  # max_s still caps the wait
    _, capped = measure_rounds(lambda: None, None, plan, probe=machine(), fast_probe_ns=50_000)
    assert (capped[:, 0] == 50_000).sum() == 0 and len(capped) <= 6
