"""Presets for the command line.

Timing presets, in the spirit of pyperf's `--fast` and `--rigorous`: a set of [timing] values
(bench/timing.py TimingPlan); explicit options given next to it (`--repeats`, `--min-time`, ...) win
over the preset, and the preset wins over the config file.

Size presets (`--preset NAME`): the model sizes of the seeds' textbook models and a scaled BERT
shape, as a config mapping laid *under* the config file and the options (both win over it).
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


# size presets -----------------------------------------------------------------------------------

#: `--preset NAME`: the seeds' textbook models at their real sizes (/docs/twins.md), and a BERT-base
#: shape scaled to a 2-core machine. Each is a config mapping laid under the config file and the
#: command line (both win over it). Nothing can be downloaded, so the data is the built-in
#: synthetic sentiment generator at a realistic count and padded length; the vocabulary size is
#: set to the real one (token ids for timing are drawn from all of it).
#: Calls of milliseconds to a second (Keras eager at 200 tokens): fewer, shorter windows than the
#: default, so a preset run stays within minutes; a process that cannot reach min_iters in max_s
#: is flagged invalid, not hidden.
TIMING_AT_SIZE: Mapping[str, Any] = {"repeats": 2, "warmup_iters": 3, "warmup_s": 0.1, "min_iters": 10,
                                     "min_s": 0.3, "max_s": 2.0}

#: name -> (what it is, its twin, synthetic texts, padded length, training batch size, timed batches).
_SIZES: Mapping[str, tuple[str, Mapping[str, Any], int, int, int, list[int]]] = {
    "imdb-bilstm": ("Keras IMDb BiLSTM (seeds 2 and 4): vocabulary 20000, Embedding(128), 2 stacked BiLSTM(64), "
                    "Dense(1, sigmoid), reviews padded to 200 tokens; 2,757,761 parameters (Keras count)",
                    dict(name="bilstm", vocab_size=20000, embed_dim=128, hidden=64, num_layers=2, head="sigmoid",
                         num_classes=1), 1000, 200, 64, [1, 32]),
    "mr-lstm300": ("sentence classifier on pretrained-size vectors (seed 5): Embedding(18765, 300) -> 2-layer "
                   "LSTM(128), dropout 0.2 between layers -> Linear(2); 18,765 is the Movie Review vocabulary "
                   "(Kim 2014); snippets padded to 64 tokens",
                   dict(name="lstm", vocab_size=18765, embed_dim=300, hidden=128, num_layers=2, dropout=0.2,
                        num_classes=2), 1000, 64, 50, [1, 32]),
    "bert-mini": ("BERT-base's shape (12 layers, hidden 768, 12 heads, FFN 3072, vocabulary 30522, 128 tokens) "
                  "scaled to BERT-mini for a 2-core machine: 4 layers, hidden 256, 4 heads, FFN 1024, same "
                  "vocabulary and length (the `bert` library twin; needs the hf extra)",
                  dict(name="bert", vocab_size=30522, hidden=256, num_layers=4, num_heads=4, intermediate=1024,
                       max_len=128), 600, 128, 32, [1, 8]),
}


def _size_preset(doc: str, twin: Mapping[str, Any], size: int, max_len: int, batch_size: int,
                 batches: list[int]) -> Mapping[str, Any]:
    """A size preset: one twin trained one epoch on synthetic sentiment texts, timed at TIMING_AT_SIZE."""
    return {"doc": doc, "config": {
        "twins": [dict(twin)],
        "data": {"source": "synthetic-sentiment", "size": size, "max_len": max_len},
        "training": {"epochs": 1, "batch_size": batch_size},
        "batches": batches,
        "timing": TIMING_AT_SIZE,
    }}


SIZE_PRESETS: Mapping[str, Mapping[str, Any]] = {name: _size_preset(*row) for name, row in _SIZES.items()}


def preset_config(name: str) -> dict[str, Any]:
    """The config mapping of size preset `name` (ConfigError naming the known ones)."""
    if name not in SIZE_PRESETS:
        raise ConfigError(f"--preset: unknown preset {name!r} (known: {', '.join(SIZE_PRESETS)})")
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in SIZE_PRESETS[name]["config"].items()}


def preset_lines() -> list[str]:
    """One line per size preset, for help texts and docs."""
    return [f"{name}: {p['doc']}" for name, p in SIZE_PRESETS.items()]
