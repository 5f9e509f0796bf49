"""Keep TensorFlow's and absl's C++ log lines off the terminal.

TensorFlow 2.21 logs through absl from C++ at import ("All log messages before absl::InitializeLog()
...", "oneDNN custom operations are on") and ignores TF_CPP_MIN_LOG_LEVEL for those lines, so no
environment variable silences them. `filter_native_stderr` points file descriptor 2 at a pipe whose
reader drops INFO and WARNING lines in glog/absl format and passes everything else through, while
Python's own `sys.stderr` (progress bars, our error lines, tracebacks) writes to the terminal
directly. Worker processes write to log files (bench/executors/local.py), never to the terminal.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

#: absl/glog INFO or WARNING lines ("I0000 00:00:17.. 8239 port.cc:153] ..."), TensorFlow's older
#: "2024-01-01 12:00:00.000: I tensorflow/..." lines, and absl's pre-initialisation notice.
NOISE = re.compile(rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
                   rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "
                   rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)")

_installed = False


def is_noise(line: bytes) -> bool:
    return bool(NOISE.match(line))


def quiet_python_loggers() -> None:
    """TensorFlow's and absl's Python loggers: errors only (cheap; imports no framework)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl", "tf2onnx", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging  # absl-py: pure Python, comes with TensorFlow
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.ERROR)
    absl_logging.set_stderrthreshold("error")


def _pump(read_fd: int, out_fd: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
        if kept:
            os.write(out_fd, kept)
    if pending and not is_noise(pending):
        os.write(out_fd, pending)


def filter_native_stderr() -> None:
    """Install the filter once per process (a no-op where fd 2 cannot be duplicated, and where
    `sys.stderr` is not the process's own: a test runner or an embedding program has replaced it,
    and swapping it under them would close the stream they read back)."""
    global _installed
    if _installed or sys.stderr is not sys.__stderr__:
        return
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, AttributeError, ValueError):
        return
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None)
                           or "utf-8", errors="backslashreplace")
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, terminal), name="twinbench-stderr", daemon=True)
    pump.start()
    _installed = True

    def restore() -> None:  # let the last native lines through before the process ends
        try:
            os.dup2(terminal, 2)  # closes the pipe's last write end: the pump sees EOF
        except OSError:
            return
        pump.join(timeout=2.0)

    atexit.register(restore)
