"""`twinbench parity`: re-run every artifact of a run directory on the CPU runtimes, no timing.

One fresh process per runtime (TensorFlow and torch in one process fight over thread pools and
memory), each loading every artifact that runtime accepts and running every named parity batch.
Outputs land in `<run_dir>/parity_only/` in the worker's format (`<cell_id>.json` +
`<cell_id>.outputs.npz`), so the very same `parity_table` judges them.

    python -m twinbench.bench.parity_run SPEC.json      # one runtime, used by run_parity_only
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from twinbench.errors import ConfigError, RunDirError, one_line

OUT_DIRNAME = "parity_only"
RUNTIME_TIMEOUT_S = 600


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def artifact_sidecars(run_dir: Path) -> list[Path]:
    """Sidecars of every artifact under artifacts/<twin>/ (twins without a golden are skipped)."""
    out = []
    for twin_dir in sorted(p for p in (run_dir / "artifacts").glob("*") if p.is_dir()):
        if not (twin_dir / "golden.npz").is_file() or not (twin_dir / "parity_inputs.npz").is_file():
            continue
        out += sorted(p for p in twin_dir.glob("*.json") if p.is_file())
    return out


def run_parity_only(run_dir: str | Path, *, runtimes: Iterable[str] | None = None, threads: int = 1,
                    settings: dict[str, dict[str, Any]] | None = None, isolate: bool = True,
                    localize_failures: bool = True) -> tuple[Any, str]:
    """(parity DataFrame, overall verdict) for every artifact x available CPU runtime.

    Runtime settings are the run's (manifest config `runtime_settings`), updated by `settings`,
    so a parity-only re-run computes in the precision the benchmark did."""
    from twinbench.bench.parity import overall_verdict
    from twinbench.bench.parity_table import parity_table
    from twinbench.bench.runtimes import RUNTIMES

    run_dir = Path(run_dir)
    if not (run_dir / "artifacts").is_dir():
        raise RunDirError(f"{run_dir}: no artifacts/ folder (not a twinbench run directory?)")
    sidecars = artifact_sidecars(run_dir)
    if not sidecars:
        raise RunDirError(f"{run_dir}/artifacts: no artifacts with golden.npz and parity_inputs.npz")
    names = list(runtimes) if runtimes else sorted(RUNTIMES)
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise ConfigError(f"runtime: unknown {', '.join(unknown)} (known: {', '.join(sorted(RUNTIMES))})")
    out_dir = run_dir / OUT_DIRNAME
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    config = _manifest(run_dir).get("config") or {}
    all_settings = {k: dict(v) for k, v in (config.get("runtime_settings") or {}).items()}
    for name, values in (settings or {}).items():
        all_settings.setdefault(name, {}).update(values)
    for name in names:
        rt = RUNTIMES[name]
        reason = rt.available()
        if reason is None and "cpu" not in rt.devices():
            reason = "no cpu device"
        spec = {"run_dir": str(run_dir), "out_dir": str(out_dir), "runtime": name, "threads": threads,
                "settings": dict(all_settings.get(name) or {}), "sidecars": [str(p) for p in sidecars],
                "twin_modules": list(config.get("twin_modules") or []), "skip_reason": reason}
        if reason is not None or not isolate:
            run_runtime(spec)
        else:
            _spawn(spec, out_dir)
    df = parity_table(run_dir, cells_dir=out_dir, localize_failures=localize_failures)
    return df, overall_verdict(df)


def _spawn(spec: dict[str, Any], out_dir: Path) -> None:
    """Run one runtime in a fresh interpreter; a crash or timeout becomes failed rows."""
    path = out_dir / f"_{spec['runtime']}.spec.json"  # ".spec.json" is never read as a cell row
    path.write_text(json.dumps(spec))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        proc = subprocess.run([sys.executable, "-m", "twinbench.bench.parity_run", str(path)], env=env,
                              capture_output=True, text=True, timeout=RUNTIME_TIMEOUT_S)
        error = "" if proc.returncode == 0 else f"parity process exited {proc.returncode}: " + (
            (proc.stderr.strip().splitlines() or [""])[-1][:400])
    except subprocess.TimeoutExpired:
        error = f"parity process timed out after {RUNTIME_TIMEOUT_S}s"
    finally:
        path.unlink(missing_ok=True)
    if error:
        run_runtime(dict(spec, skip_reason=None), force_error=error)


def _cell_id(twin: str, artifact: str, runtime: str) -> str:
    return f"{twin}__{artifact}__{runtime}__cpu".replace("/", "_")


def run_runtime(spec: dict[str, Any], *, force_error: str | None = None) -> None:
    """Load each accepted artifact in one runtime, run every parity batch, write cell files.

    Cells already written are kept (a crash part-way keeps what finished)."""
    from twinbench.exporters.artifact import Artifact

    out_dir = Path(spec["out_dir"])
    run_dir = Path(spec["run_dir"])
    from twinbench.bench.runtimes import RUNTIMES

    rt = RUNTIMES[spec["runtime"]]
    if spec.get("skip_reason") is None and force_error is None:
        from twinbench.models.registry import load_twin_module

        for mod in spec.get("twin_modules") or []:
            load_twin_module(mod)
    for side in spec["sidecars"]:
        try:
            art = Artifact.read_sidecar(side)
        except (OSError, ValueError, TypeError) as exc:
            art = None
            err = f"{side}: unreadable sidecar ({exc})"
        if art is None:
            row = {"twin": Path(side).parent.name, "artifact": Path(side).name, "runtime": spec["runtime"],
                   "device": "cpu", "status": "failed", "error": err}
            (out_dir / f"{_cell_id(row['twin'], row['artifact'], row['runtime'])}.json").write_text(json.dumps(row))
            continue
        cell_id = _cell_id(art.twin, art.name, spec["runtime"])
        if (out_dir / f"{cell_id}.json").exists():
            continue
        if art.kind not in rt.accepts:
            continue
        row = {"run_id": "", "twin": art.twin, "artifact": art.name, "exporter": art.exporter,
               "source": art.source, "precision": art.precision, "runtime": spec["runtime"], "device": "cpu",
               "status": "ok", "error": "", "runtime_settings": "{}"}
        if spec.get("skip_reason") is not None:
            row.update(status="skipped", error=str(spec["skip_reason"]))
        elif force_error is not None:
            row.update(status="failed", error=force_error)
        else:
            try:
                outputs, errors, info = _run_artifact(rt, art, spec)
                np.savez(out_dir / f"{cell_id}.outputs.npz", **outputs)
                (out_dir / f"{cell_id}.outputs.json").write_text(json.dumps({"errors": errors}))
                row["runtime_settings"] = json.dumps(info, default=str, sort_keys=True)
            except Exception as exc:  # any runtime error is a row: one line, never a traceback
                row.update(status="failed", error=one_line(exc))
        (out_dir / f"{cell_id}.json").write_text(json.dumps(row, default=str))


def _run_artifact(rt: Any, art: Any, spec: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str],
                                                                   dict[str, Any]]:
    """(outputs, per-batch errors, runtime info): a batch the runtime cannot take is a finding."""
    from twinbench.bench.parity import load_batches
    from twinbench.bench.runtimes.base import LoadOptions
    from twinbench.models.registry import INPUT_NAME

    run_dir = Path(spec["run_dir"])
    batches = load_batches(run_dir / "artifacts" / art.twin / "parity_inputs.npz")
    opts = LoadOptions(device="cpu", threads=int(spec.get("threads", 1)), run_dir=str(run_dir),
                       settings=dict(spec.get("settings") or {}))
    session = rt.load(art, opts)
    try:
        outputs, errors = {}, {}
        for name, x in batches.items():
            try:
                result = session.bind({INPUT_NAME: x})()
                session.sync()
                outputs[name] = np.asarray(session.fetch(result)[0], dtype=np.float64)
            except Exception as exc:  # e.g. a frozen sequence axis: recorded per batch
                errors[name] = one_line(exc)
        info = dict(session.info() or {})
    finally:
        session.close()
    return outputs, errors, info


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m twinbench.bench.parity_run SPEC.json", file=sys.stderr)
        return 2
    run_runtime(json.loads(Path(args[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
