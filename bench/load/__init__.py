"""Throughput under load: MLPerf LoadGen's Server and Offline scenarios over any runtime.

- settings.py: scenario names and `[load]` (LoadSettings), validated before training.
- streams.py: concurrency per runtime (sessions per stream; OpenVINO infer requests), by name.
- sut.py: the one LoadGen system-under-test adapter over `Streams`.
- search.py: the bisection for the highest QPS LoadGen judges VALID under the latency bound.
- scenarios.py: Server and Offline as series of LoadGen runs; logs.py reads LoadGen's verdicts.
- cell.py: a load cell in its worker; table.py: the `load` table the pipeline writes.

Importing this package is light (no LoadGen, no frameworks): `twinbench.config` uses settings.py.
"""

from __future__ import annotations

from twinbench.bench.load.settings import LOAD_SCENARIOS, SCENARIOS, SINGLE_STREAM, LoadSettings  # noqa: F401
