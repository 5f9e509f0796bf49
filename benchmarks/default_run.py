"""Wall time of the default `twinbench run` (the Quickstart demo) and the harness overhead.

Usage: python benchmarks/default_run.py [--out DIR]
Prints: default run wall time in seconds, and the per-sample harness overhead (trivial ONNX Add
model timed through the engine vs a bare session.run loop) from benchmarks/harness_overhead.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="twinbench-default-")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "twinbench", "run", "--out", out], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(proc.stdout.strip())
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:], file=sys.stderr)
        return proc.returncode
    print(f"default run wall time: {wall:.1f} s (exit {proc.returncode})")
    here = Path(__file__).parent
    subprocess.run([sys.executable, str(here / "harness_overhead.py")], env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
