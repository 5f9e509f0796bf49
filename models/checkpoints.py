"""Training checkpoints, so a later run with the same twin, data and recipe can skip training.

A checkpoint folder holds `torch.pt` (state_dict), `keras.weights.h5` and `checkpoint.json` with the
twin config, the recipe and the data fingerprint; `load_checkpoints` returns None unless all three
match, because reusing weights trained on other data would silently falsify a report.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from twinbench.core.errors import DataError
from twinbench.models.registry import Twin

META = "checkpoint.json"


def _meta(twin: Twin, splits: Any, recipe: Any) -> dict[str, Any]:
    return {"twin": twin.name, "config": twin.config_dict(), "recipe": dataclasses.asdict(recipe),
            "data_fingerprint": splits.fingerprint()}


def save_checkpoints(result: Any, twin: Twin, splits: Any, recipe: Any, out_dir: str | Path) -> Path:
    """Write both frameworks' weights and the metadata that decides reuse."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(result.torch_model.state_dict(), out / "torch.pt")
    result.keras_model.save_weights(str(out / "keras.weights.h5"))
    (out / META).write_text(json.dumps({**_meta(twin, splits, recipe), "summary": result.summary},
                                       indent=1, default=str), encoding="utf-8")
    return out


def load_checkpoints(twin: Twin, splits: Any, recipe: Any, ckpt_dir: str | Path) -> tuple[Any, Any] | None:
    """(torch_model, keras_model) rebuilt through the twin and loaded, or None when absent/stale."""
    import torch

    d = Path(ckpt_dir)
    if not (d / META).is_file():
        return None
    try:
        meta = json.loads((d / META).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{d / META}: unreadable checkpoint metadata ({exc})") from None
    want = json.loads(json.dumps(_meta(twin, splits, recipe), default=str))
    if any(meta.get(k) != v for k, v in want.items()):
        return None
    torch_model = twin.build_torch(twin.config)
    keras_model = twin.build_keras(twin.config)
    try:
        torch_model.load_state_dict(torch.load(d / "torch.pt", map_location="cpu", weights_only=True))
        keras_model.load_weights(str(d / "keras.weights.h5"))
    except Exception as exc:  # corrupt or foreign files: one line naming the folder
        raise DataError(f"{d}: checkpoint files cannot be loaded ({type(exc).__name__}: {exc})") from None
    torch_model.eval()
    return torch_model, keras_model
