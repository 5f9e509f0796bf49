"""The Ray executor: one matrix over many machines, one run directory (docs/scale-out.md).

Ray places and retries; this module only says what a cell needs and what comes back:

- **Placement.** Every node offering cells carries one `twinbench-slot` custom resource and each
  cell task asks for it, so a node runs one cell at a time. A cluster without that resource gets the
  fallback: a task asks for all CPUs of the largest eligible node. `machines` (resource tags such as
  "hw:cpu-a") copies every cell once per tag (`<cell_id>.<tag>`, column `machine`) and each copy
  asks for a sliver of its tag, so it runs only on that kind of node.
- **Honest timing.** A Ray worker is reused between tasks and Ray sets OMP_NUM_THREADS in it, so
  nothing is timed there: the task only unpacks the shipped files into a temporary run directory
  and runs the cell in a fresh worker process (`shipping.run_shipped` -> `local.spawn`) with Ray's
  variables removed, then waits, as the local executor's parent process does. The Ray worker is
  thus a launcher, and reusing it changes nothing a cell measures; a new Ray worker per cell
  (`worker_per_cell`, Ray's max_calls=1) cost about 2 s per cell on a loaded 2-core machine, which
  is most of the run's time for small cells, so it is off by default. Inputs travel through the
  object store; no shared filesystem.
- **Faults.** A node lost mid-cell: Ray retries the task (`retries` times) on a node with the same
  resources, i.e. the same kind. When none is left alive for `lost_grace_s`, or retries run out,
  the cell becomes a failed row with the reason; rows already landed stay on disk.

The driver writes each cell's files as its result arrives (`shipping.land`), with the node's
`machine_info()` in the row.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from twinbench.bench.cells import CellSpec
from twinbench.bench.executors.base import CommonOptions, register_executor
from twinbench.core.typed import number
from twinbench.bench.executors.shipping import ShipError, land, outbound, record_machine, run_shipped
from twinbench.core.rows import failed_row
from twinbench.core.errors import ConfigError, summary
from twinbench.core.manifest import library_versions, machine_info

#: The custom resource a node offers once: one timed cell per node at a time.
SLOT = "twinbench-slot"
#: What a cell asks of its machine tag: any node with the tag fits; the slot does the serialising.
TAG_SHARE = 0.001
#: Variables Ray sets in its worker processes that must not reach a timed cell.
RAY_WORKER_ENV = ("OMP_NUM_THREADS",)


def machine_suffix(tag: str) -> str:
    """The file-name-safe form of a machine tag, appended to cell ids."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", tag)


def _for_machine(spec: CellSpec, tag: str, suffix: str) -> CellSpec:
    """The copy of `spec` for one kind of machine: `<cell_id>.<tag>`, the tag before a repeat's
    `.r<k>` so a cell's repeats on one machine keep one base id."""
    base, rep = spec.cell_id, ""
    if spec.repeat and base.endswith(f".r{spec.repeat}"):
        base, rep = base[: -len(f".r{spec.repeat}")], f".r{spec.repeat}"
    return dataclasses.replace(spec, cell_id=f"{base}.{suffix}{rep}", base_id=f"{spec.base_id}.{suffix}", machine=tag)


def per_machine(specs: Iterable[CellSpec], machines: Iterable[str]) -> list[CellSpec]:
    """Every cell once per machine kind, cell-major (one cell's copies run side by side). Specs
    already made for a machine pass unchanged, so expanding twice is harmless."""
    machines = list(dict.fromkeys(machines))
    suffixes = [machine_suffix(t) for t in machines]
    if len(set(suffixes)) != len(suffixes):
        raise ConfigError(f"machines: tags {machines} collide once made file-name safe ({suffixes})")
    out: list[CellSpec] = []
    for s in specs:
        out += [s] if s.machine else [_for_machine(s, tag, sfx) for tag, sfx in zip(machines, suffixes)]
    return out


def node_task(spec: dict[str, Any], refs: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Runs in a Ray worker on the node: fetch the shipped files, run the cell in a fresh process,
    return its files and this node's machine info."""
    import ray

    names = list(refs)
    blobs = ray.get([refs[n] for n in names])
    for var in RAY_WORKER_ENV:
        os.environ.pop(var, None)  # Ray sets it again before each task; the cell's process must not inherit it
    result = run_shipped(spec, dict(zip(names, blobs)), timeout_s)
    ctx = ray.get_runtime_context()
    result["machine_info"] = dict(machine_info(), versions=library_versions(), node_id=ctx.get_node_id(),
                                  node_ip=ray.util.get_node_ip_address())
    return result


@dataclasses.dataclass
class _Pending:
    spec: CellSpec
    need: str  # the resource that decides where it may run (its tag, else the slot, else "CPU")


class RayExecutor:
    """Cells as Ray tasks on a running cluster (`ray start`); see the module docstring."""

    name = "ray"

    def __init__(self, address: str | None = None, machines: Iterable[str] = (), retries: int = 2,
                 timeout_s: float = 300, lost_grace_s: float = 60, poll_s: float = 1.0,
                 stall_s: float | None = None, worker_per_cell: bool = False) -> None:
        if isinstance(machines, str):
            machines = [machines]
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"executor: retries must be a non-negative integer, got {retries!r}")
        for name, v in (("timeout_s", timeout_s), ("lost_grace_s", lost_grace_s), ("poll_s", poll_s)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"executor: {name} must be a positive number, got {v!r}")
        self.address = address
        self.machines = tuple(dict.fromkeys(str(m) for m in machines))
        self.retries = retries
        self.timeout_s = float(timeout_s)
        self.lost_grace_s = float(lost_grace_s)
        self.poll_s = float(poll_s)
        self.worker_per_cell = bool(worker_per_cell)
        # no result at all for this long means the cluster is gone: fail what is left
        self.stall_s = float(stall_s) if stall_s else (self.timeout_s + 120.0) * (retries + 1)
        self._queue: list[CellSpec] = []
        self._refs: dict[Any, _Pending] = {}
        self._puts: dict[Path, Any] = {}
        self._ray: Any = None
        self._task: Any = None
        self._owns = False
        self._placement = "slot"
        self._cpus: dict[str, float] = {}

    # connection ------------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError:
            raise ConfigError("executor ray: the ray package is not installed (pip install 'twinbench[ray]')") from None
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or "auto"
            try:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                         namespace="twinbench")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"executor ray: no cluster at {address!r} ({summary(exc, 200)}); start one with "
                                  "`ray start --head` (docs/scale-out.md)") from None
            self._owns = True
        self._ray = ray
        # exported once; with worker_per_cell each task gets a new Ray worker (max_calls=1)
        self._task = ray.remote(max_calls=1)(node_task) if self.worker_per_cell else ray.remote(node_task)
        self._check_cluster()
        return ray

    def _alive(self) -> list[dict[str, float]]:
        return [dict(n.get("Resources") or {}) for n in self._ray.nodes() if n.get("Alive")]

    def _check_cluster(self) -> None:
        """Choose the placement and refuse machine tags no node carries (a typo, a missing node)."""
        nodes = self._alive()
        self._placement = "slot" if any(SLOT in r for r in nodes) else "cpus"
        missing = [m for m in self.machines if not any(m in r for r in nodes)]
        if missing:
            tags = sorted({k for r in nodes for k in r if ":" in k and not k.startswith("node:")})
            raise ConfigError(f"machines: no node of the cluster has {', '.join(map(repr, missing))} "
                              f"(tags present: {', '.join(tags) or 'none'})")
        for need in set(self.machines) or {""}:
            fits = [r for r in nodes if not need or need in r]
            self._cpus[need] = max((r.get("CPU", 0.0) for r in fits), default=1.0)

    # seam ------------------------------------------------------------------------------------
    def expand(self, specs: Iterable[CellSpec]) -> list[CellSpec]:
        specs = list(specs)
        return per_machine(specs, self.machines) if self.machines else specs

    def submit(self, spec: CellSpec) -> None:
        self._queue.append(spec)

    def _need(self, spec: CellSpec) -> str:
        return spec.machine or (SLOT if self._placement == "slot" else "CPU")

    def _dispatch(self, spec: CellSpec) -> Any:
        ray = self._ray
        refs = {}
        for name, path in outbound(spec).items():
            if path not in self._puts:
                self._puts[path] = ray.put(path.read_bytes())  # once per file, shared by its cells
            refs[name] = self._puts[path]
        resources = {SLOT: 1.0} if self._placement == "slot" else {}
        if spec.machine:
            resources[spec.machine] = TAG_SHARE
        cpus = 0 if self._placement == "slot" else self._cpus.get(spec.machine, self._cpus.get("", 1.0))
        task = self._task.options(num_cpus=cpus, resources=resources, max_retries=self.retries,
                                  retry_exceptions=False)
        return task.remote(spec.to_dict(), refs, self.timeout_s)

    def results(self) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
        ray = self._connect()
        queue, self._queue = self._queue, []
        for spec in queue:
            try:
                self._refs[self._dispatch(spec)] = _Pending(spec, self._need(spec))
            except (ShipError, OSError) as exc:
                yield spec, self._failed(spec, f"not shipped: {summary(exc, 300)}")
        last = time.monotonic()
        lost_since: dict[str, float] = {}
        while self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=self.poll_s)
            for ref in ready:
                yield self._land(ref, self._refs.pop(ref))
                last = time.monotonic()
            if ready:
                continue
            yield from self._fail_lost(lost_since)
            if self._refs and time.monotonic() - last > self.stall_s:
                yield from self._fail_all(f"no cell finished on the cluster in {self.stall_s:g} s")

    def _land(self, ref: Any, item: _Pending) -> tuple[CellSpec, dict[str, Any]]:
        try:
            result = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            return item.spec, self._failed(item.spec, f"lost on the cluster (after up to {self.retries} "
                                                      f"retries): {summary(exc, 300)}")
        return item.spec, land(item.spec, result, result.get("machine_info"))

    def _failed(self, spec: CellSpec, reason: str) -> dict[str, Any]:
        return record_machine(spec, failed_row(spec.key_row(), reason), None)

    def _fail_lost(self, lost_since: dict[str, float]) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
        """Cells whose kind of node has been gone for `lost_grace_s` would wait forever: fail them."""
        nodes = self._alive()
        now = time.monotonic()
        for need in {p.need for p in self._refs.values()}:
            if any(need in r and (self._placement != "slot" or SLOT in r) for r in nodes):
                lost_since.pop(need, None)
                continue
            since = lost_since.setdefault(need, now)
            if now - since < self.lost_grace_s:
                continue
            for ref, item in [(r, p) for r, p in self._refs.items() if p.need == need]:
                self._cancel(ref)
                del self._refs[ref]
                yield item.spec, self._failed(item.spec, f"no live node offers {need!r} any more "
                                                         f"(lost during the run; waited {self.lost_grace_s:g} s)")

    def _fail_all(self, reason: str) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
        for ref, item in list(self._refs.items()):
            self._cancel(ref)
            del self._refs[ref]
            yield item.spec, self._failed(item.spec, reason)

    def _cancel(self, ref: Any) -> None:
        try:
            self._ray.cancel(ref, force=True)
        except Exception:  # already finished or its node is gone: nothing left to stop
            pass

    def close(self) -> None:
        self._queue.clear()
        if self._ray is not None:
            for ref in list(self._refs):
                self._cancel(ref)
        self._refs.clear()
        self._puts.clear()
        if self._ray is not None and self._owns:
            self._ray.shutdown()
        self._ray, self._owns = None, False


@dataclasses.dataclass(frozen=True)
class RayOptions(CommonOptions):
    """`[executor] kind = "ray"`: `address` (default $RAY_ADDRESS, else a cluster started on this
    machine), `machines` (resource tags), `retries` per lost node, `lost_grace_s` before a node
    counts as lost, `poll_s`, `stall_s` (no result for this long: the cluster is gone), one worker
    process per cell."""

    address: str | None = None
    machines: tuple[str, ...] = ()
    retries: int = number(2, ge=0, le=100)
    lost_grace_s: float = number(60.0, gt=0)
    poll_s: float = number(1.0, gt=0, le=60)
    stall_s: float | None = number(None, gt=0)
    worker_per_cell: bool = False
    group_untimed: bool = True


@register_executor("ray", options=RayOptions)
def ray_executor(o: RayOptions) -> RayExecutor:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("executor ray: the ray package is not installed (pip install 'twinbench[ray]')")
    return RayExecutor(address=o.address, machines=o.machines, retries=o.retries, timeout_s=o.timeout_s,
                       lost_grace_s=o.lost_grace_s, poll_s=o.poll_s, stall_s=o.stall_s,
                       worker_per_cell=o.worker_per_cell)

