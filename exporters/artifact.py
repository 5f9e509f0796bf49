"""An artifact is a file that can be run, plus a sidecar record of how it was made.

Native artifacts (`kind` torch / keras) are weight files that a worker rebuilds through the twin
registry; ONNX artifacts are self-contained. The sidecar `<path>.json` holds `to_dict()`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ArtifactKind = Literal["torch", "keras", "onnx"]
Precision = Literal["fp32", "fp16", "bf16", "int8"]


@dataclass(frozen=True)
class Artifact:
    """`name` is unique within a twin (e.g. "torch", "keras", "torch-dynamo", "torch-dynamo-fp16").

    `path` is relative to the run directory so run directories can be moved and compared.
    `twin_config` lets a worker rebuild native models; `meta` holds exporter facts (opset,
    seconds, bytes, node count, op histogram, weights hash, ...).
    """

    name: str
    kind: ArtifactKind
    path: str
    twin: str
    source: Literal["torch", "keras", "user"]
    exporter: str = "native"
    precision: Precision = "fp32"
    twin_config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Artifact":
        return cls(**d)

    def abspath(self, run_dir: str | Path) -> Path:
        return Path(run_dir) / self.path

    def write_sidecar(self, run_dir: str | Path) -> Path:
        side = Path(str(self.abspath(run_dir)) + ".json")
        side.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str))
        return side

    @classmethod
    def read_sidecar(cls, sidecar: str | Path) -> "Artifact":
        return cls.from_dict(json.loads(Path(sidecar).read_text()))
