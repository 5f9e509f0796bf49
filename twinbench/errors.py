"""Errors at the edges. The CLI alone turns them into one line and an exit code."""

from __future__ import annotations


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


class ParityError(TwinbenchError):
    """Parity verification failed; exit code 1 so CI can gate on it."""

    exit_code = 1


class RegressionFound(TwinbenchError):
    """A comparison found a statistically significant slowdown or parity change."""

    exit_code = 1
