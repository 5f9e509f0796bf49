"""The default executor: every cell in a fresh worker process on this machine, one at a time.

A fresh interpreter per cell keeps one runtime's thread pools, allocator state and crashes away from
another's numbers. Untimed cells (parity re-checks) of one runtime may share a process
(`group_untimed`): importing TensorFlow once instead of once per artifact makes `twinbench parity`
fast, and nothing is timed there to disturb. A crash or a hang becomes `failed` rows for the cells
that had not written theirs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from twinbench.core.atomic import write_text
from twinbench.bench.cells import CellSpec
from twinbench.bench.executors.base import CommonOptions, register_executor
from twinbench.core.typed import number
from twinbench.core.rows import failed_row, from_json
from twinbench.bench.worker import FAST_PROBE_ENV, MEMORY_ENV
from twinbench.core.machine import memory
from twinbench.core.layout import RunDir
from twinbench.bench.probe import probe
from twinbench.core.quiet import is_noise

#: The whole environment of a worker, less what would make it noisy or slow to start.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def read_row(path: Path) -> dict[str, Any] | None:
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"worker crashed ({name})"
    return f"worker exited with code {rc}"


def _last_log_line(log: Path) -> str:
    """The worker's last words, skipping TensorFlow/absl INFO and WARNING chatter, so a crash is
    reported by its reason and not by the last oneDNN notice."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()
                 if ln.strip() and not is_noise(ln.encode())]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _files(spec: CellSpec) -> Any:
    return RunDir(spec.run_dir, spec.cells).cell(spec.cell_id)


#: A worker may use at most this fraction of the machine's memory unless its executor says otherwise.
DEFAULT_MEMORY_FRACTION = 0.8
#: How often the driver looks at a worker's resident memory (a read of /proc, not a busy wait).
WATCH_S = 0.5


def default_memory_mb() -> float | None:
    """The memory cap of a worker on this machine: 80% of its physical memory (None where unknown)."""
    total = memory().get("total_gb")
    return round(total * 1024 * DEFAULT_MEMORY_FRACTION) if total else None


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when it is gone or /proc cannot be read)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _wait(proc: subprocess.Popen, timeout_s: float, memory_mb: float | None) -> tuple[int | None, str]:
    """Wait for the worker within its time and memory bounds: (exit code, "") or (None, why it was
    killed). Its resident memory is read twice a second; the worker's own RLIMIT_DATA (worker.py)
    catches most overruns first, as a MemoryError in its row."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return proc.wait(timeout=max(0.0, min(WATCH_S, deadline - time.monotonic()))), ""
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            _kill(proc)
            return None, f"timed out after {timeout_s:g} s (worker killed)"
        used = rss_mb(proc.pid) if memory_mb else 0.0
        if memory_mb and used > memory_mb:
            _kill(proc)
            return None, f"used {used:.0f} MB of memory, over the worker cap of {memory_mb:.0f} MB (worker killed)"


def spawn(specs: list[CellSpec], timeout_s: float, env: dict[str, str] | None = None,
          memory_mb: float | None = None) -> list[dict[str, Any]]:
    """Run `specs` in ONE fresh worker process (the one place that spawns workers); returns a row
    per spec, failed rows for those the process did not finish. The worker is bounded in time
    (`timeout_s`) and memory (`memory_mb`, default 80% of this machine's; 0: no cap)."""
    memory_mb = default_memory_mb() if memory_mb is None else (memory_mb or None)
    first = _files(specs[0])
    first.row.parent.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        p = _files(spec)
        for path in (p.row, p.samples, p.outputs, p.outputs_errors):
            path.unlink(missing_ok=True)
        write_text(p.spec, spec.to_json())
    spec_file = first.spec
    if len(specs) > 1:
        spec_file = first.row.parent / f"_{specs[0].cell_id}.group.json"
        write_text(spec_file, json.dumps([s.to_dict() for s in specs]))
    error = ""
    with open(first.log, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "twinbench.bench.worker", str(spec_file)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **WORKER_ENV, **_randomized(), **(env or {}),
                                         TWINBENCH_DRIVER_PID=str(os.getpid()),
                                         **({MEMORY_ENV: str(int(memory_mb))} if memory_mb else {})),
                                start_new_session=True)
        try:
            rc, error = _wait(proc, timeout_s, memory_mb)
        except BaseException:
            _kill(proc)
            raise
    if len(specs) > 1:
        spec_file.unlink(missing_ok=True)
    if not error:
        error = describe_exit(rc) if rc else "worker wrote no results row"
        tail = _last_log_line(first.log)
        if tail:
            error += f": {tail}"
    rows = []
    for spec in specs:
        row = read_row(_files(spec).row)
        rows.append(from_json(row, spec.key_row()) if row is not None else failed_row(spec.key_row(), error))
    return rows


def _probe_min(seconds: float = 0.05) -> int:
    """The probe's best time over a short burst in the driver: a first guess at the machine's fast
    state before any worker has measured (the state is the whole VM's, not a process's)."""
    end = time.perf_counter() + seconds
    best = probe()[0]
    while time.perf_counter() < end:
        best = min(best, probe()[0])
    return best


def _randomized() -> dict[str, str]:
    """What pyperf randomises per worker for the same reason: the hash seed changes dict and set
    layouts, so one lucky or unlucky layout does not become every process's figure."""
    return {"PYTHONHASHSEED": str(random.randrange(1, 2**32))}


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group only
    except ProcessLookupError:
        pass
    proc.wait()


class LocalExecutor:
    """Fresh processes on this machine, strictly one at a time (never two cells measured at once)."""

    name = "local"

    def __init__(self, timeout_s: float = 300, group_untimed: bool = True, memory_mb: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.group_untimed = group_untimed
        self.memory_mb = memory_mb
        self._queue: list[CellSpec] = []
        self._fast_probe_ns: int | None = None  # the machine's fast state as seen so far (bench/probe.py)

    def submit(self, spec: CellSpec) -> None:
        self._queue.append(spec)

    def _next_batch(self) -> list[CellSpec]:
        spec = self._queue.pop(0)
        if spec.timed or not self.group_untimed:
            return [spec]
        same = [s for s in self._queue if not s.timed and s.runtime == spec.runtime and s.run_dir == spec.run_dir]
        for s in same:
            self._queue.remove(s)
        return [spec, *same]

    def results(self) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
        if any(s.timed for s in self._queue) and self._fast_probe_ns is None:
            self._fast_probe_ns = _probe_min()
        while self._queue:
            batch = self._next_batch()
            env = {FAST_PROBE_ENV: str(self._fast_probe_ns)} if self._fast_probe_ns else {}
            # a group gets the time of its cells together: each would have had its own process
            rows = spawn(batch, self.timeout_s * len(batch), env, memory_mb=self.memory_mb)
            for spec in batch:
                self._learn(spec)
            yield from zip(batch, rows)

    def _learn(self, spec: CellSpec) -> None:
        """Lower the fast-state probe time from the rounds a finished worker recorded."""
        if not spec.timed:
            return
        try:
            import numpy as np

            rounds = np.load(_files(spec).rounds, allow_pickle=False)
        except (OSError, ValueError):
            return
        if rounds.size:
            low = int(rounds[:, 0].min())
            if low > 0 and (self._fast_probe_ns is None or low < self._fast_probe_ns):
                self._fast_probe_ns = low

    def close(self) -> None:
        self._queue.clear()


@dataclass(frozen=True)
class LocalOptions(CommonOptions):
    """`group_untimed`: untimed cells (parity re-checks) of one runtime share a worker process.
    `memory_mb`: the most memory one worker may use (None: 80% of this machine's; 0: no cap)."""

    group_untimed: bool = True
    memory_mb: float | None = number(None, ge=0)


@register_executor("local", options=LocalOptions)
def local(options: LocalOptions) -> LocalExecutor:
    return LocalExecutor(timeout_s=options.timeout_s, group_untimed=options.group_untimed,
                         memory_mb=options.memory_mb)
