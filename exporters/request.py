"""What an exporter is given (`ExportRequest`) and what a failed one leaves (`ExportFailure`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinbench.core.errors import ConfigError

if TYPE_CHECKING:
    from twinbench.models.registry import Twin

#: The opset every built-in exporter can write (tf2onnx 1.17 stops at 18, the dynamo exporter starts at 17).
DEFAULT_OPSET = 18


def _int_at_least(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


@dataclass(frozen=True)
class ExportRequest:
    """Everything an exporter needs. `out_dir` is the twin's artifacts folder inside `run_dir`;
    the example batch/seq only shape the trace (axes stay dynamic, except a fixed_length twin's seq)."""

    twin: "Twin"
    torch_model: Any
    keras_model: Any
    out_dir: Path
    run_dir: Path
    opset: int = DEFAULT_OPSET
    example_batch: int = 2
    example_seq: int = 8

    def __post_init__(self) -> None:
        if not _int_at_least(self.opset, 0):  # the range is the exporter's to check
            raise ConfigError(f"opset: must be an integer, got {self.opset!r}")
        if not _int_at_least(self.example_batch, 2):
            # batch 1 lets tracers treat the batch axis as a constant
            raise ConfigError(f"example_batch: must be an integer >= 2, got {self.example_batch!r}")
        if not _int_at_least(self.example_seq, 2):
            raise ConfigError(f"example_seq: must be an integer >= 2, got {self.example_seq!r}")

    @property
    def seq(self) -> int:
        """The sequence length to trace with: the twin's fixed length where it has one, else
        `example_seq` raised to the twin's shortest accepted length (a cnn's widest kernel)."""
        if self.twin.fixed_length:
            return int(self.twin.fixed_length)
        return max(int(self.example_seq), int(self.twin.min_seq_len))

    def onnx_path(self, name: str) -> Path:
        """Where exporter `name` writes its file (the folder is made on the way)."""
        out_dir = Path(self.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return out_dir / f"{name}.onnx"


@dataclass(frozen=True)
class ExportFailure:
    """An exporter that failed: recorded in the run instead of stopping it."""

    name: str
    error: str
