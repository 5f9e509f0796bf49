"""`twinbench hardware RUN...`: the same matrix measured on several machines, side by side, as
ratios to a baseline machine (reports/hardware.py). A run whose cells ran on several kinds of
machine (Ray `machines`) counts as one run per machine.

`hardware` is the Python API's; `main` is the command line's body."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from twinbench.config import check_recorded_config
from twinbench.reports.hardware import hardware_markdown, hardware_table
from twinbench.summary import Answer, lines, records


def hardware(runs: Sequence[str | Path], baseline: int = 0) -> Any:
    """One row per cell of the baseline run with `<machine> p50 ms` and `<machine> vs base` per
    machine (a DataFrame; `df.attrs["machines"]` describes each machine)."""
    for path in runs:
        check_recorded_config(path)
    return hardware_table(list(runs), baseline=baseline)


def main(runs: Sequence[Path], *, baseline: int = 0) -> Answer:
    df = hardware(runs, baseline)
    data = {"baseline": df.attrs.get("baseline", baseline), "machines": list(df.attrs.get("machines", [])),
            "cells": records(df)}
    return Answer(0, data, lines(hardware_markdown(df).rstrip("\n")))
