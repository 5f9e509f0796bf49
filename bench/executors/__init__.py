"""Executors: where and when cells run. The runner (bench/runner.py) hands specs to one and reads
rows back; the pipeline never knows which. One module per executor, registered by name:

- "local" (default): each cell in a fresh worker process on this machine, one at a time.
- "inprocess": cells in this process (tests and debugging; no isolation, no fresh state).

Later executors (a cluster, load scenarios) are one more module with `@register_executor`."""

from __future__ import annotations

from twinbench.bench.executors.base import (EXECUTORS, Executor, ExecutorFactory, get_executor,  # noqa: F401
                                            register_executor)
