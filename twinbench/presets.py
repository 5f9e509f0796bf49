"""Timing presets for the command line, in the spirit of pyperf's `--fast` and `--rigorous`.

A preset is a set of [timing] values (bench/timing.py TimingPlan); explicit options given next to it
(`--repeats`, `--min-time`, ...) win over the preset, and the preset wins over the config file.
"""

from __future__ import annotations

from typing import Any, Mapping

from twinbench.core.errors import ConfigError

#: `--fast`: a quick look (one process per cell, short windows); figures are rough and a compare of
#: two such runs can only see large effects. `--rigorous`: more processes and longer windows, for
#: figures worth gating on (the minimum detectable effect shrinks with more processes).
TIMING_PRESETS: Mapping[str, Mapping[str, Any]] = {
    "fast": {"repeats": 1, "min_iters": 10, "min_s": 0.2, "max_s": 2.0, "warmup_iters": 3, "warmup_s": 0.05},
    "rigorous": {"repeats": 6, "min_iters": 100, "min_s": 3.0, "max_s": 30.0, "warmup_iters": 10, "warmup_s": 1.0},
}


def timing_overrides(*, fast: bool = False, rigorous: bool = False, repeats: int | None = None,
                     min_time: float | None = None, max_time: float | None = None,
                     min_iters: int | None = None) -> dict[str, Any]:
    """The [timing] overrides the CLI options ask for (empty when none was given)."""
    if fast and rigorous:
        raise ConfigError("--fast and --rigorous: choose one")
    out: dict[str, Any] = dict(TIMING_PRESETS["fast" if fast else "rigorous"]) if (fast or rigorous) else {}
    explicit = {"repeats": repeats, "min_s": min_time, "max_s": max_time, "min_iters": min_iters}
    out.update({k: v for k, v in explicit.items() if v is not None})
    if "min_s" in out and "max_s" in out and out["max_s"] < out["min_s"]:
        raise ConfigError(f"--max-time {out['max_s']:g} is below --min-time {out['min_s']:g}")
    return out
