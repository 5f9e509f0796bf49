"""One benchmark at a time per machine: a lock held while cells are timed.

Two benchmarks timing on the same cores slow each other down and neither would know, whoever
started them. The lock is an `fcntl.flock` on one file for the whole machine
(`/tmp/twinbench-bench.lock`, readable and writable by every user; `$TWINBENCH_LOCK` names another),
which the kernel releases when its holder dies, so a killed run never leaves a stale lock. Where that
file cannot be used (another user made it unwritable), the per-user `~/.cache/twinbench/bench.lock`
is the fallback, and it covers that user's runs only. The holder
writes who it is into the file; a second run waits and says for whom, refuses (`--no-wait`), or,
when told to overlap (`--allow-overlap`), runs anyway and both runs record the overlap."""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from twinbench.core.errors import TwinbenchError
from twinbench.core.liveness import driver_record, now_iso

#: Seconds between tries while waiting for the lock.
POLL_S = 1.0


class BenchmarkBusy(TwinbenchError):
    """Another benchmark holds this machine's lock and the user asked not to wait (exit 2)."""


#: The machine-wide lock file.
MACHINE_LOCK = Path("/tmp/twinbench-bench.lock")


def lock_path() -> Path:
    explicit = os.environ.get("TWINBENCH_LOCK")
    if explicit:
        Path(explicit).parent.mkdir(parents=True, exist_ok=True)
        return Path(explicit)
    try:
        fd = os.open(MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            os.fchmod(fd, 0o666)  # every user's runs must be able to take it (the umask cut it)
        except PermissionError:
            pass  # another user's file, already shared
        os.close(fd)
        return MACHINE_LOCK
    except OSError:
        from twinbench.core.userdirs import cache_dir

        return cache_dir() / "bench.lock"


def holder(path: Path | None = None) -> dict[str, Any]:
    """Who holds (or last held) the lock, as its holder wrote it; {} when unknown."""
    try:
        data = json.loads((path or lock_path()).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    return f"pid {info.get('pid')} (run {info.get('run_id')}, since {info.get('since')})"


@dataclass
class Lease:
    """What taking the lock gave: `overlap` names the holder a run overlapped (empty when none)."""

    overlap: dict[str, Any] = field(default_factory=dict)


@contextmanager
def bench_lock(run_id: str, run_dir: str | Path, *, wait: bool = True, allow_overlap: bool = False,
               say: Callable[[str], None] = print, timeout_s: float | None = None) -> Iterator[Lease]:
    """Hold the machine's benchmark lock for the body. Waits (saying for whom) unless `wait` is off
    (BenchmarkBusy) or `allow_overlap` (runs at once; the Lease names the run overlapped, and a note
    is left in that run's directory for its own manifest)."""
    path = lock_path()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    held, lease, t0, told = False, Lease(), time.monotonic(), False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                info = holder(path)
            if allow_overlap:
                lease.overlap = info
                _leave_note(info, run_id, run_dir)
                say(f"benchmark lock held by {describe(info)}: overlapping as asked (--allow-overlap); "
                    f"both runs record it")
                break
            if not wait:
                raise BenchmarkBusy(f"another benchmark is running on this machine: {describe(info)} "
                                    f"(lock {path}); wait for it, or drop --no-wait")
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise BenchmarkBusy(f"gave up after {timeout_s:g} s waiting for {describe(info)}")
            if not told:
                say(f"waiting for the benchmark lock held by {describe(info)} (lock {path})")
                told = True
            time.sleep(POLL_S)
        if held:
            me = {**driver_record(), "run_id": run_id, "run_dir": str(Path(run_dir).resolve()), "since": now_iso()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            if told:
                say(f"benchmark lock taken after {time.monotonic() - t0:.0f} s")
        yield lease
    finally:
        if held:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def check_free() -> None:
    """BenchmarkBusy now when another benchmark holds the lock (`--no-wait` asks this before any
    training, so a refusal costs nothing); the lock is not kept."""
    path = lock_path()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise BenchmarkBusy(f"another benchmark is running on this machine: {describe(holder(path))} "
                            f"(lock {path}); wait for it, or drop --no-wait") from None
    finally:
        os.close(fd)


def _leave_note(info: dict[str, Any], run_id: str, run_dir: str | Path) -> None:
    """Tell the holding run it was overlapped: a file in its directory that its finish reads."""
    target = info.get("run_dir")
    if not target or not Path(target).is_dir():
        return
    from twinbench.core.atomic import write_json

    write_json(Path(target) / "overlaps" / f"{run_id}.json",
               {"run_id": run_id, "run_dir": str(Path(run_dir).resolve()), "pid": os.getpid(), "since": now_iso()})


def overlaps_recorded(run_dir: str | Path) -> list[dict[str, Any]]:
    """The notes other runs left in `run_dir` when they overlapped it."""
    out = []
    for p in sorted((Path(run_dir) / "overlaps").glob("*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return out
