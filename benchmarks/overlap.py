"""What the benchmark lock is for: two ONNX-only runs of one file started together, with the lock
(the second waits) and with `--allow-overlap` (both time at once), against the first run alone.
Prints the first run's headline p50 per cell in each case and its ratio to running alone.

Usage: python benchmarks/overlap.py ONNX_FILE [--batch 32] [--threads 1] [--repeats 3] [--min-time 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start(out: Path, name: str, onnx: Path, args: argparse.Namespace, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "twinbench", "run", "--onnx", str(onnx), "-r", "ort-cpu", "--batch", str(args.batch),
           "--threads", str(args.threads), "--repeats", str(args.repeats), "--min-time", str(args.min_time),
           "--max-time", str(args.min_time * 2), "--out", str(out), *extra]
    cfg = out / f"{name}.toml"
    cfg.write_text(f'run_id = "{name}"\ncalibration = false\n')
    env = {**os.environ, "TWINBENCH_LOCK": str(out / "bench.lock"), "TWINBENCH_HISTORY": "off"}
    return subprocess.Popen(cmd[:4] + [str(cfg)] + cmd[4:], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def p50(run_dir: Path) -> dict[str, float]:
    import pandas as pd

    df = pd.read_parquet(run_dir / "results.parquet")
    return {f"b{r.batch} s{r.seq_len}": float(r.p50_ms) for r in df.itertuples() if r.status in ("ok", "invalid")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds timed per process (long enough to overlap)")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="twinbench-overlap-"))
    figures = {}
    for case, extra in (("alone", None), ("locked", ()), ("overlap", ("--allow-overlap",))):
        t0 = time.perf_counter()
        first = start(out, f"{case}-1", args.onnx, args, *(extra or ()))
        second = None
        if extra is not None:
            time.sleep(0.5)
            second = start(out, f"{case}-2", args.onnx, args, *extra)
        for proc in (first, second):
            if proc is not None and proc.wait() != 0:
                print(proc.stderr.read(), file=sys.stderr)
                return 1
        figures[case] = p50(out / f"{case}-1")
        print(f"{case}: {time.perf_counter() - t0:.0f} s wall", file=sys.stderr)
    print("| cell | alone p50 ms | locked (second waits) | overlapped (--allow-overlap) |")
    print("| --- | --- | --- | --- |")
    for cell, alone in figures["alone"].items():
        locked, over = figures["locked"].get(cell), figures["overlap"].get(cell)
        print(f"| {cell} | {alone:.3f} | {locked:.3f} ({locked / alone:.2f}x) | {over:.3f} ({over / alone:.2f}x) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
