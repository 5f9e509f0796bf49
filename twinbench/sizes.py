"""What a run will need in memory, estimated from sizes alone before any work starts.

`twinbench run --check` must refuse what cannot fit this machine (a batch of a million sequences of a
million tokens, `hidden = 1000000000`, a `max_len` of a hundred million) in a second and one line,
instead of a MemoryError minutes later or a machine pushed into swap. Nothing is built here: a
twin's parameters are estimated from the integer sizes of its config (its embedding, its widest
layer squared per layer), activations from batch x sequence x width, the data from rows x max_len.
The estimates are rough on purpose and err low, so only what clearly cannot fit is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from twinbench.core.errors import ConfigError
from twinbench.core.machine import memory

#: Config field names (parts) that are widths of a layer's activations.
WIDTH_WORDS = ("hidden", "dim", "filters", "intermediate", "units", "width", "ff")
#: Config fields that count stacked layers.
LAYER_FIELDS = ("num_layers", "num_hidden_layers", "layers")
#: Float32 copies of the weights a runtime may hold at once (loaded, optimised, a fused copy).
PARAM_COPIES = 3
#: Float32 buffers per token and width a forward pass keeps alive, per layer and around the layers.
ACTIVATION_BUFFERS = 2


@dataclass(frozen=True)
class Footprint:
    """A twin's size as far as memory goes: parameters, widest activation per token, layers."""

    params: int
    width: int
    layers: int

    def cell_bytes(self, batch: int, seq_len: int) -> int:
        """Bytes one cell needs: int64 token ids, float32 activations, the weights' copies."""
        tokens = batch * seq_len
        return tokens * 8 + tokens * self.width * 4 * ACTIVATION_BUFFERS * (1 + self.layers) \
            + self.params * 4 * PARAM_COPIES

    def training_bytes(self, batch: int, seq_len: int) -> int:
        """Bytes training needs in one framework: weights, gradients and two optimiser moments,
        and the activations of a batch kept for the backward pass."""
        return self.params * 4 * 4 + 2 * self.cell_bytes(batch, seq_len)


def _ints(config: Mapping[str, Any]) -> dict[str, int]:
    return {str(k): v for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}


def footprint(config: Mapping[str, Any]) -> Footprint:
    """A twin's footprint from its config's sizes: `vocab_size x embed_dim` for the embedding,
    4 x width^2 per layer (a gated recurrent cell or an attention block), twice for bidirectional."""
    ints = _ints(config)
    widths = [v for k, v in ints.items() if k != "vocab_size" and any(w in k for w in WIDTH_WORDS)]
    width = max(widths, default=1)
    layers = max([v for k, v in ints.items() if k in LAYER_FIELDS], default=1)
    if config.get("bidirectional") is True:
        layers *= 2
    embed = ints.get("embed_dim", width)
    params = ints.get("vocab_size", 0) * embed + layers * 4 * width * width
    return Footprint(params=params, width=width, layers=layers)


def available_bytes() -> int | None:
    """Memory this machine can give now (MemAvailable), or None where it cannot be read."""
    gb = memory().get("available_gb")
    return int(gb * 1024**3) if gb else None


def _gb(n: int) -> str:
    return f"{n / 1024**3:.3g} GB"


def check_cells(twins: Iterable[tuple[str, Footprint]], batches: Iterable[int], seq_lens: Iterable[int],
                available: int | None = None) -> None:
    """Every cell of the matrix must fit this machine's available memory: ConfigError naming the
    twin, the shape, the estimate and what is available, else nothing."""
    available = available_bytes() if available is None else available
    if not available:
        return
    batch, seq = max(batches, default=1), max(seq_lens, default=1)
    for name, fp in twins:
        if fp.params * 4 > available:
            raise ConfigError(f"twins: {name} has about {fp.params:.3g} parameters ({_gb(fp.params * 4)} in float32); "
                              f"this machine has {_gb(available)} available: use smaller sizes")
        need = fp.cell_bytes(batch, seq)
        if need > available:
            raise ConfigError(f"batches/seq_lens: {name} at batch {batch} x seq_len {seq} needs about {_gb(need)} per "
                              f"cell (token ids, activations, weights; estimated); this machine has {_gb(available)} "
                              f"available: use smaller batches or sequence lengths")


def check_training(twins: Iterable[tuple[str, Footprint]], batch_size: int | None, rows: int, seq_len: int,
                   available: int | None = None) -> None:
    """Training both frameworks of each twin must fit: ConfigError (one line) otherwise."""
    available = available_bytes() if available is None else available
    if not available:
        return
    batch = batch_size or rows  # None or 0: the whole training set in one batch
    for name, fp in twins:
        need = 2 * fp.training_bytes(batch, seq_len)
        if need > available:
            raise ConfigError(f"training: {name} at batch_size {batch} x max_len {seq_len} needs about {_gb(need)} "
                              f"in both frameworks (estimated); this machine has {_gb(available)} available")


def check_data(rows: int | None, max_len: int, where: str, available: int | None = None) -> None:
    """The encoded data (rows x max_len int64 ids, with room for the splits) must fit."""
    available = available_bytes() if available is None else available
    if not available or not rows:
        return
    need = rows * max_len * 8 * 3
    if need > available:
        raise ConfigError(f"{where}.max_len: {max_len} tokens x {rows} rows need about {_gb(need)} once encoded; "
                          f"this machine has {_gb(available)} available")
