"""Native artifacts: the torch state_dict and the Keras weights, rebuilt through the twin registry.

Workers never unpickle models: they rebuild the twin from `artifact.twin_config` and load weights,
so a native artifact is only as portable as the registry (user twin modules are imported first).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from twinbench.core.errors import ConfigError, RunDirError, summary
from twinbench.exporters.artifact import Artifact
from twinbench.models.registry import get_twin, load_twin_module

if TYPE_CHECKING:
    import keras
    import torch

    from twinbench.models.registry import Twin


def torch_weights_hash(model: "torch.nn.Module") -> str:
    """sha256 over the state_dict in key order (name, dtype, shape, bytes): same weights, same hash."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        arr = tensor.detach().cpu().contiguous().numpy()
        h.update(f"{key}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def keras_weights_hash(model: "keras.Model") -> str:
    """sha256 over the Keras weights in model order (path, dtype, shape, bytes)."""
    import numpy as np

    h = hashlib.sha256()
    for w in model.weights:
        arr = np.ascontiguousarray(np.asarray(w.numpy()))
        h.update(f"{getattr(w, 'path', w.name)}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _rel(path: Path, run_dir: Path) -> str:
    try:
        return path.resolve().relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        raise ConfigError(f"out_dir: {path.parent} is not inside run_dir {run_dir}") from None


def save_native(twin: "Twin", torch_model: "torch.nn.Module", keras_model: "keras.Model",
                out_dir: Path, run_dir: Path) -> list[Artifact]:
    """Write torch.pt (state_dict) and keras.weights.h5 and their sidecars; return both artifacts."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = dataclasses.asdict(twin.config)
    arts: list[Artifact] = []

    t0 = time.perf_counter()
    pt = out_dir / "torch.pt"
    torch.save({k: v.detach().cpu() for k, v in torch_model.state_dict().items()}, pt)
    arts.append(Artifact(
        name="torch", kind="torch", path=_rel(pt, run_dir), twin=twin.name, source="torch",
        twin_config=config,
        meta={"params": int(sum(p.numel() for p in torch_model.parameters())),
              "weights_hash": torch_weights_hash(torch_model), "bytes": pt.stat().st_size,
              "seconds": round(time.perf_counter() - t0, 4), "versions": {"torch": torch.__version__}},
    ))

    import keras

    t0 = time.perf_counter()
    h5 = out_dir / "keras.weights.h5"
    keras_model.save_weights(str(h5))
    arts.append(Artifact(
        name="keras", kind="keras", path=_rel(h5, run_dir), twin=twin.name, source="keras",
        twin_config=config,
        meta={"params": int(keras_model.count_params()), "weights_hash": keras_weights_hash(keras_model),
              "bytes": h5.stat().st_size, "seconds": round(time.perf_counter() - t0, 4),
              "versions": {"keras": keras.__version__}},
    ))
    for art in arts:
        art.write_sidecar(run_dir)
    return arts


def _rebuild_twin(artifact: Artifact, twin_modules: Iterable[str]) -> "Twin":
    for mod in twin_modules:
        load_twin_module(mod)
    config = dict(artifact.twin_config)
    if config.get("embedding_matrix") is not None:
        # The weights file holds the trained embedding; the pretrained .npy it started from is not
        # needed (and need not exist any more if the run directory moved).
        config.update(embedding_matrix=None, freeze_embedding=False)
    return get_twin(artifact.twin, **config)


def _weights_file(artifact: Artifact, run_dir: str | Path, kind: str) -> Path:
    if artifact.kind != kind:
        raise ConfigError(f"artifact {artifact.name!r} is of kind {artifact.kind!r}, not {kind!r}")
    path = artifact.abspath(run_dir)
    if not path.is_file():
        raise RunDirError(f"artifact file missing: {path}")
    return path


def load_torch(artifact: Artifact, run_dir: str | Path, *, twin_modules: Iterable[str] = ()) -> "torch.nn.Module":
    """Rebuild the twin's torch module and load the saved state_dict; returned in eval mode."""
    import torch

    path = _weights_file(artifact, run_dir, "torch")
    twin = _rebuild_twin(artifact, twin_modules)
    model = twin.build_torch(twin.config)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise RunDirError(f"{path}: cannot load torch weights ({type(exc).__name__}: "
                          f"{summary(exc, 200)})") from None
    return model.eval()


def load_keras(artifact: Artifact, run_dir: str | Path, *, twin_modules: Iterable[str] = ()) -> "keras.Model":
    """Rebuild the twin's Keras model and load the saved weights."""
    path = _weights_file(artifact, run_dir, "keras")
    twin = _rebuild_twin(artifact, twin_modules)
    model = twin.build_keras(twin.config)
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise RunDirError(f"{path}: cannot load keras weights ({type(exc).__name__}: "
                          f"{summary(exc, 200)})") from None
    return model


def library_versions(*dists: str) -> dict[str, Any]:
    """Installed versions of the named distributions (None where one is missing)."""
    from importlib import metadata

    out: dict[str, Any] = {}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out
