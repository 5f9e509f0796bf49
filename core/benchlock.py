"""One benchmark at a time per machine: a lock held while cells are timed.

Two benchmarks timing on the same cores slow each other down and neither would know, whoever
started them. The lock is an `fcntl.flock` on one file for the whole machine
(`/tmp/twinbench-bench.lock`; `$TWINBENCH_LOCK` names another), which the kernel releases when its
holder dies, so a killed run never leaves a stale lock. The holder writes who it is into the file; a
second run waits and says for whom, refuses (`--no-wait`), or, when told to overlap
(`--allow-overlap`), runs anyway and both runs record the overlap.

The file sits in a folder every user can write (`/tmp`), so it is opened as something another user
may have planted (docs/reliability.md, "Security"):

- a symbolic link, anything but a regular file, or a file with several names (hard links) is
  refused (UnsafeLock, exit 2) without being written, truncated or chmod-ed;
- twinbench chmods only a file it has just created (O_EXCL), to 0644 so that every user's runs can
  open it to lock it; it never truncates;
- only the file's owner writes its holder record into it (at most RECORD_BYTES, padded, never
  truncated). Another user's runs (root's included) lock the same file, so the machine-wide "one
  benchmark at a time" holds across users, but never write into a file they do not own; a waiter
  then says "another process";
- what the file says is data: read at most RECORD_BYTES through the opened descriptor, parsed as
  JSON, each field stripped of control characters and cut (core/console.plain), and printed with
  markup off. A note to an overlapped run is left only in a run directory of this user.

Where the machine-wide file cannot be opened at all (another user made it unreadable), the per-user
`~/.cache/twinbench/bench.lock` is the fallback, and it covers that user's runs only.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from twinbench.core.console import plain
from twinbench.core.errors import TwinbenchError
from twinbench.core.liveness import driver_record, now_iso
from twinbench.core.userdirs import cache_dir
from twinbench.core.atomic import write_json

#: Seconds between tries while waiting for the lock.
POLL_S = 1.0
#: The holder record's slot at the start of the file: written padded to this size, read no further.
RECORD_BYTES = 4096


class BenchmarkBusy(TwinbenchError):
    """Another benchmark holds this machine's lock and the user asked not to wait (exit 2)."""


class UnsafeLock(TwinbenchError):
    """The lock path is a symbolic link, not a regular file, or a file with other names (exit 2)."""

#: The machine-wide lock file.
MACHINE_LOCK = Path("/tmp/twinbench-bench.lock")
_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class LockFile:
    """An opened lock file: `writable` when this process may write its holder record into it."""

    path: Path
    fd: int
    writable: bool


def lock_path() -> Path:
    """`$TWINBENCH_LOCK` (its folder made), else the machine-wide file (opening may fall back)."""
    explicit = os.environ.get("TWINBENCH_LOCK")
    if explicit:
        Path(explicit).parent.mkdir(parents=True, exist_ok=True)
        return Path(explicit)
    return MACHINE_LOCK


def _refuse(path: Path, why: str) -> UnsafeLock:
    return UnsafeLock(f"benchmark lock {plain(path, 300)!s}: {why}; refused (another user may have planted it): "
                      f"remove it, or set TWINBENCH_LOCK to a file of your own")


def _open_at(path: Path) -> LockFile:
    """Open (or create) `path` as a lock file, refusing what someone else could have planted."""
    for _ in range(5):  # a file removed between our two opens: try again
        try:
            fd = os.open(path, _OPEN | os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:  # ours, just made: readable by every user so that their runs can lock it too (umask aside)
            try:
                os.fchmod(fd, 0o644)
            except OSError:
                pass
            return LockFile(path, fd, True)
        try:
            before = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(before.st_mode):
            raise _refuse(path, "is a symbolic link")
        if not stat.S_ISREG(before.st_mode):
            raise _refuse(path, "is not a regular file")
        try:
            try:
                fd = os.open(path, _OPEN | os.O_RDWR)
            except PermissionError:
                fd = os.open(path, _OPEN | os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(path, "is a symbolic link") from None
            raise
        return _checked(path, fd)
    raise _refuse(path, "keeps changing while it is opened")


def _checked(path: Path, fd: int) -> LockFile:
    """The opened file itself (fstat: no race with the path) must be a regular file with one name."""
    st = os.fstat(fd)
    why = ("is not a regular file" if not stat.S_ISREG(st.st_mode) else
           "has other names (hard links)" if st.st_nlink != 1 else "")
    if why:
        os.close(fd)
        raise _refuse(path, why)
    mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    writable = st.st_uid == os.geteuid() and mode == os.O_RDWR and _looks_like_a_record(fd)
    return LockFile(path, fd, writable)


def _looks_like_a_record(fd: int) -> bool:
    """A file of ours that holds anything but a lock record (or nothing) is locked, never written."""
    blob = os.pread(fd, RECORD_BYTES + 1, 0)
    if len(blob) > RECORD_BYTES:
        return False
    first = blob.split(b"\n", 1)[0].strip()
    if not first:
        return True
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def open_lock() -> LockFile:
    """The lock file this process uses: `lock_path()`, or the per-user one where the machine-wide
    file cannot be opened at all (PermissionError). Unsafe files are refused, never fallen back from."""
    path = lock_path()
    try:
        return _open_at(path)
    except PermissionError:
        if path != MACHINE_LOCK:
            raise
        return _open_at(cache_dir() / "bench.lock")


def _read(fd: int) -> dict[str, Any]:
    try:
        first = os.pread(fd, RECORD_BYTES, 0).split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        data = json.loads(first or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def holder(path: Path | None = None) -> dict[str, Any]:
    """Who holds (or last held) the lock, as its holder wrote it; {} when unknown. Data only: show
    it through `describe`."""
    try:
        fd = os.open(path or lock_path(), _OPEN | os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read(fd) if stat.S_ISREG(os.fstat(fd).st_mode) else {}
    finally:
        os.close(fd)


def describe(info: dict[str, Any]) -> str:
    """The holder on one line, every field cut and stripped of control characters."""
    if not info:
        return "another process"
    return (f"pid {plain(info.get('pid'), 20)} (run {plain(info.get('run_id'), 100)}, "
            f"since {plain(info.get('since'), 40)})")


def _write(lock: LockFile, record: dict[str, Any] | None) -> None:
    """The holder record (or blanks), padded to RECORD_BYTES: nothing is ever truncated."""
    if not lock.writable:
        return
    blob = (json.dumps(record).encode() + b"\n") if record else b""
    if len(blob) > RECORD_BYTES and record:
        blob = json.dumps({**record, "run_dir": ""}).encode() + b"\n"
    os.pwrite(lock.fd, blob[:RECORD_BYTES].ljust(RECORD_BYTES, b" "), 0)


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
    lock = open_lock()
    held, lease, t0, told = False, Lease(), time.monotonic(), False
    try:
        while True:
            try:
                fcntl.flock(lock.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                info = _read(lock.fd)
            if allow_overlap:
                lease.overlap = info
                _leave_note(info, run_id, run_dir)
                say(f"benchmark lock held by {describe(info)}: overlapping as asked (--allow-overlap); "
                    f"both runs record it")
                break
            if not wait:
                raise BenchmarkBusy(f"another benchmark is running on this machine: {describe(info)} "
                                    f"(lock {lock.path}); wait for it, or drop --no-wait")
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise BenchmarkBusy(f"gave up after {timeout_s:g} s waiting for {describe(info)}")
            if not told:
                say(f"waiting for the benchmark lock held by {describe(info)} (lock {lock.path})")
                told = True
            time.sleep(POLL_S)
        if held:
            _write(lock, {**driver_record(), "run_id": run_id, "run_dir": str(Path(run_dir).resolve()),
                          "since": now_iso()})
            if told:
                say(f"benchmark lock taken after {time.monotonic() - t0:.0f} s")
        yield lease
    finally:
        if held:
            _write(lock, None)
            fcntl.flock(lock.fd, fcntl.LOCK_UN)
        os.close(lock.fd)


def check_free() -> None:
    """BenchmarkBusy now when another benchmark holds the lock (`--no-wait` asks this before any
    training, so a refusal costs nothing); the lock is not kept. An unsafe lock file is refused here
    too (UnsafeLock)."""
    lock = open_lock()
    try:
        fcntl.flock(lock.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock.fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise BenchmarkBusy(f"another benchmark is running on this machine: {describe(_read(lock.fd))} "
                            f"(lock {lock.path}); wait for it, or drop --no-wait") from None
    finally:
        os.close(lock.fd)


def _leave_note(info: dict[str, Any], run_id: str, run_dir: str | Path) -> None:
    """Tell the holding run it was overlapped: a file in its directory that its finish reads. The
    directory named in the lock file is data: a note goes only into a real run directory (a
    manifest.json in it, not a symbolic link) that belongs to this user."""
    target = info.get("run_dir")
    if not isinstance(target, str) or not target:
        return
    try:
        st = os.lstat(target)
    except (OSError, ValueError):
        return
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or not (Path(target) / "manifest.json").is_file():
        return
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
