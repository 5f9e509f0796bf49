"""Errors at the edges. The CLI alone turns them into one line and an exit code."""

from __future__ import annotations

import re


class TwinbenchError(Exception):
    """Base error; `exit_code` is what the CLI exits with (2 = bad usage or bad input)."""

    exit_code: int = 2


class ConfigError(TwinbenchError):
    """A configuration value, name or file is invalid."""


class DataError(TwinbenchError):
    """Input data is missing, empty or malformed (the message names the file and line)."""


class ExportError(TwinbenchError):
    """A model could not be exported (the message names the unsupported op where known)."""


class RuntimeUnavailable(TwinbenchError):
    """A runtime or device is not installed / not present here (the message says why)."""


class RunDirError(TwinbenchError):
    """A run directory is missing, incomplete, corrupt or of another schema version."""


# Lines that only say where in a library's C++ the error was raised (OpenVINO, ORT, TF): no news to a user.
_WHERE_ONLY = re.compile(
    r"^(Exception from \S+:\d+:?|Check '.*' failed at \S+:\d+:?|Traceback \(most recent call last\):)$")


def summary(text: str | BaseException, limit: int = 400) -> str:
    """A message on one line: source-location lines dropped, the rest joined, cut at `limit`.

    Libraries put the reason several lines below a location banner (OpenVINO's "Exception from
    src/...cpp:84:"), so a bare first line would record nothing useful in a results row.
    """
    raw = str(text).strip()
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    kept = [ln for ln in lines if not _WHERE_ONLY.match(ln)] or lines
    out = " ".join(kept)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def one_line(exc: BaseException, limit: int = 500) -> str:
    """`Type: summary` of an exception, for error columns and logs."""
    return f"{type(exc).__name__}: {summary(exc, limit)}"[:limit]
