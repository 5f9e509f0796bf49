"""Is a run's driver still alive? The manifest records who drives a run (pid, the process's start
time, host) and a heartbeat; a "running" run whose driver is gone reads as "interrupted", so a
killed run never looks alive forever and can be continued with `twinbench run --resume`."""

from __future__ import annotations

import datetime as _dt
import os
import socket
import threading
from typing import Any, Callable

#: Seconds between heartbeats, and how stale a heartbeat from another host may get before its run
#: counts as interrupted (a pid can only be checked on its own host).
HEARTBEAT_S = 5.0
STALE_S = 120.0


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not mistaken
    for the driver; None where /proc is absent."""
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def driver_record() -> dict[str, Any]:
    """This process as a run's driver."""
    pid = os.getpid()
    return {"pid": pid, "start_ticks": _start_ticks(pid), "host": socket.gethostname(), "started": now_iso(),
            "heartbeat": now_iso()}


def driver_alive(driver: dict[str, Any] | None) -> bool | None:
    """True/False when it can be told, None when the manifest records no driver (older runs)."""
    if not isinstance(driver, dict) or not isinstance(driver.get("pid"), int):
        return None
    if driver.get("host") != socket.gethostname():
        try:
            beat = _dt.datetime.fromisoformat(str(driver.get("heartbeat")))
        except ValueError:
            return None
        return (_dt.datetime.now(_dt.timezone.utc) - beat).total_seconds() < STALE_S
    pid = driver["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's live process
    ticks = driver.get("start_ticks")
    return ticks is None or _start_ticks(pid) in (None, ticks)


def effective_status(manifest: dict[str, Any]) -> str:
    """The manifest's status, with "running" read as "interrupted" when its driver is gone."""
    status = manifest.get("status")
    if status == "running" and driver_alive(manifest.get("driver")) is False:
        return "interrupted"
    return str(status)


class Heartbeat:
    """A daemon thread calling `beat()` every `period` seconds until stopped (a context manager)."""

    def __init__(self, beat: Callable[[], None], period: float = HEARTBEAT_S) -> None:
        self._beat, self._period = beat, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="twinbench-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._beat()
            except Exception:  # a full disk must not kill the run; the next beat tries again
                pass

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._period + 1)

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
