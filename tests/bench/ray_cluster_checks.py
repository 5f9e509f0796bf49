"""Checks that need a real Ray cluster: run only by test_ray.py, inside a network namespace where
127.0.0.1 is the only address (no traffic can leave), after it started a head and two worker nodes:

- head: no `twinbench-slot` (the driver's machine: no cell runs there);
- node A: `twinbench-slot` + `hw:cpu-a`, node B: `twinbench-slot` + `hw:cpu-b`.

The name does not start with `test_`, so a plain `pytest` does not collect it; every check skips
without the cluster's address in TWINBENCH_RAY_ADDRESS. The fault checks stop nodes, so they come
last and in this order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

ADDRESS = os.environ.get("TWINBENCH_RAY_ADDRESS", "")
pytestmark = pytest.mark.skipif(not ADDRESS, reason="needs the loopback cluster that test_ray.py starts")

SLOT = "twinbench-slot"
#: Node manager ports test_ray.py gives nodes A and B; the third A node gets A2_PORT here.
A_PORT, B_PORT, A2_PORT = 6401, 6402, 6403
#: Small plans: two cells share these 2 cores, so spread is not judged here.
QUICK = {"warmup_iters": 1, "warmup_s": 0.0, "min_iters": 5, "min_s": 0.05, "max_s": 1.0, "repeats": 1,
         "max_spread": 1e9}
#: A cell long enough to stop its node in the middle of it.
LONG = {**QUICK, "min_s": 8.0, "max_s": 12.0}


def node_command(port: int, resources: dict[str, float], agent_port: int) -> list[str]:
    """`ray start` of one more worker node on loopback, like the nodes test_ray.py starts."""
    return ["ray", "start", "--address", ADDRESS or "127.0.0.1:6390", "--node-ip-address", "127.0.0.1",
            "--num-cpus", "1",
            "--resources", json.dumps(resources), "--object-store-memory", "100000000",
            "--node-manager-port", str(port), "--dashboard-agent-listen-port", str(agent_port),
            "--min-worker-port", str(port + 100), "--max-worker-port", str(port + 199), "--disable-usage-stats"]


def _procs() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process this namespace can see."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(d.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmd)
    return out


def _raylet_of_cell(port: int | None = None) -> tuple[int, int] | None:
    """(raylet pid, node manager port) of a node (that one, given `port`) running a cell worker
    now, else None."""
    procs = _procs()
    for pid, (_, cmd) in procs.items():
        if "twinbench.bench.worker" not in cmd:
            continue
        p, seen = pid, 0
        while p in procs and seen < 20:  # walk up to the raylet (bounded)
            p, seen = procs[p][0], seen + 1
            cmd_p = procs.get(p, (0, ""))[1]
            if "raylet/raylet" in cmd_p and "--node_manager_port=" in cmd_p:
                found = int(cmd_p.split("--node_manager_port=")[1].split()[0])
                if port is None or found == port:
                    return p, found
                break
    return None


def _kill_node(raylet: int) -> None:
    """Stop one node as a power cut would: its raylet and everything under it, at once."""
    procs = _procs()
    tree, frontier = {raylet}, [raylet]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, (ppid, _) in procs.items() if ppid == parent and pid not in tree]
        tree.update(kids)
        frontier += kids
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _node_id(port: int) -> str:
    import ray

    for n in ray.nodes():
        if n.get("NodeManagerPort") == port:
            return str(n["NodeID"])
    raise AssertionError(f"no node with manager port {port}")


def _kill_when_running(seen: dict[str, Any], port: int | None = None, timeout_s: float = 120) -> Callable[[], None]:
    """A thread body: wait (bounded) for a cell worker on a node (that one, given `port`), note the
    node, then stop it."""

    def body() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = _raylet_of_cell(port)
            if found:
                time.sleep(1.5)  # well inside the cell's 8 s of timing
                seen["port"] = found[1]
                seen["node_id"] = _node_id(found[1])
                _kill_node(found[0])
                return
            time.sleep(0.2)

    return body


# fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster_run(tiny_run: Any) -> Any:
    """The tiny run of tests/bench/conftest.py plus float64 goldens, so parity can be judged."""
    import numpy as np

    from twinbench.bench.parity.inputs import golden_outputs, save_golden
    from twinbench.exporters.native import load_torch
    from twinbench.core.layout import RunDir

    layout = RunDir(tiny_run.run_dir)
    model = load_torch(tiny_run.artifacts["torch"], tiny_run.run_dir)
    batches = {k: np.asarray(v) for k, v in tiny_run.batches.items()}
    save_golden(layout.golden("lstm"), golden_outputs(None, model, batches))
    return tiny_run


def _specs(run: Any, runtimes: list[str], plan: dict[str, Any], *, timed: bool = True, cells: str = "cells",
           names: tuple[str, ...] = ("torch-script",)) -> list[Any]:
    from twinbench.bench.cells import plan_cells

    arts = [run.artifacts[n] for n in names]
    specs, skipped = plan_cells(run.run_dir, arts, runtimes, ["cpu"], [2], [6], [1], plan, {}, [], 40,
                                timed=timed, cells=cells)
    assert not skipped, skipped
    return specs


def _ray(**kw: Any) -> Any:
    from twinbench.bench.executors import get_executor

    return get_executor("ray", address=ADDRESS, timeout_s=120, **kw)


# checks --------------------------------------------------------------------------------------
def test_every_cell_runs_once_on_each_kind_of_machine(cluster_run: Any) -> None:
    from twinbench.bench.runner import rows_frame, run_cells
    from twinbench.core.layout import RunDir

    specs = _specs(cluster_run, ["ort-cpu"], QUICK)
    df = rows_frame(run_cells(specs, _ray(machines=["hw:cpu-a", "hw:cpu-b"], worker_per_cell=True)))  # max_calls=1 path
    assert len(df) == 2 * len(specs)
    assert df.status.isin(["ok", "invalid"]).all(), df[["machine", "status", "error"]]
    assert sorted(df.machine) == sorted(["hw:cpu-a", "hw:cpu-b"] * len(specs))
    infos = {m: json.loads(i) for m, i in zip(df.machine, df.machine_info)}
    assert infos["hw:cpu-a"]["node_id"] != infos["hw:cpu-b"]["node_id"]
    assert infos["hw:cpu-a"]["node_ip"] == "127.0.0.1" and infos["hw:cpu-a"]["fingerprint"]
    layout = RunDir(cluster_run.run_dir)
    for spec in specs:
        for sfx in ("hw_cpu-a", "hw_cpu-b"):
            files = layout.cell(f"{spec.cell_id}.{sfx}")
            row = json.loads(files.row.read_text())
            assert row["status"] in ("ok", "invalid") and row["machine"] in ("hw:cpu-a", "hw:cpu-b")
            assert files.samples.is_file() and files.log.is_file() and files.outputs.is_file()
            assert json.loads(files.spec.read_text())["run_dir"] == str(cluster_run.run_dir)  # the driver's spec
            assert row["samples_file"] == f"cells/{files.samples.name}"


def test_remote_parity_outputs_get_the_local_verdicts(cluster_run: Any) -> None:
    import numpy as np

    from twinbench.bench.executors import get_executor
    from twinbench.bench.parity.table import parity_table
    from twinbench.bench.runner import rows_frame, run_cells
    from twinbench.core.layout import RunDir

    names = ("torch-script", "torch")
    local = rows_frame(run_cells(_specs(cluster_run, ["ort-cpu", "torch"], QUICK, timed=False, cells="local",
                                        names=names), get_executor("local", timeout_s=120)))
    remote = rows_frame(run_cells(_specs(cluster_run, ["ort-cpu", "torch"], QUICK, timed=False, cells="remote",
                                         names=names), _ray()))
    assert (local.status == "ok").all() and (remote.status == "ok").all(), remote[["status", "error"]]
    key = ["twin", "artifact", "runtime", "device", "inputs"]
    a = parity_table(cluster_run.run_dir, cells="local", localize_failures=False).sort_values(key)
    b = parity_table(cluster_run.run_dir, cells="remote", localize_failures=False).sort_values(key)
    assert len(a) == len(b) >= 2 * len(cluster_run.batches)  # torch-script on ort-cpu, torch on torch
    assert list(a.verdict) == list(b.verdict) and "PASS" in set(a.verdict), b[key + ["verdict", "error"]]
    assert list(a.error.fillna("")) == list(b.error.fillna(""))
    np.testing.assert_array_equal(a.max_abs.to_numpy(), b.max_abs.to_numpy())
    for spec in _specs(cluster_run, ["ort-cpu", "torch"], QUICK, timed=False, cells="local", names=names):
        with np.load(RunDir(cluster_run.run_dir, "local").cell(spec.cell_id).outputs) as x, \
                np.load(RunDir(cluster_run.run_dir, "remote").cell(spec.cell_id).outputs) as y:
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k])


def test_twinbench_run_on_two_kinds_of_machine_makes_one_run_directory(tmp_path: Path) -> None:
    """The user's command: one invocation, one run directory, every row's machine, the report
    comparing the two kinds."""
    import sys

    import pandas as pd

    cmd = [sys.executable, "-m", "twinbench", "run", "--out", str(tmp_path), "--twin", "mlp", "--epochs", "1",
           "--exporter", "torch-script", "--runtime", "ort-cpu", "--batch", "1", "--repeats", "1",
           "--executor", "ray", "--ray-address", ADDRESS, "--machine", "hw:cpu-a", "--machine", "hw:cpu-b"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    res = pd.read_parquet(run_dir / "results.parquet")
    timed = res[res.status.isin(["ok", "invalid"])]
    assert len(timed) >= 4 and set(timed.machine) == {"hw:cpu-a", "hw:cpu-b"}, res[["artifact", "status", "error"]]
    assert timed.groupby("machine").size().nunique() == 1  # the same cells on each kind
    assert all(json.loads(i)["node_ip"] == "127.0.0.1" for i in timed.machine_info)
    report = (run_dir / "report.md").read_text()
    assert "## Machines side by side" in report and "hw:cpu-a" in report and "hw:cpu-b" in report
    assert (pd.read_parquet(run_dir / "parity.parquet").verdict == "PASS").any()


def test_a_node_lost_mid_cell_is_retried_on_another_of_its_kind(cluster_run: Any) -> None:
    """A third node of kind A joins; the node running the cell is stopped; Ray runs it again on the
    other A node and the row says which node measured it."""
    from twinbench.bench.runner import rows_frame, run_cells

    subprocess.run(node_command(A2_PORT, {SLOT: 1, "hw:cpu-a": 1}, 52413), check=True, capture_output=True, timeout=120)
    seen: dict[str, Any] = {}
    killer = threading.Thread(target=_kill_when_running(seen), daemon=True)
    killer.start()
    specs = _specs(cluster_run, ["ort-cpu"], LONG)
    df = rows_frame(run_cells(specs, _ray(machines=["hw:cpu-a"], retries=2, lost_grace_s=30)))
    killer.join(timeout=5)
    assert seen, "no cell worker was seen on a node"
    row = df.iloc[0]
    assert row.status in ("ok", "invalid"), row.error
    print("retried:", seen, json.loads(row.machine_info)["node_id"], row.status)
    assert json.loads(row.machine_info)["node_id"] != seen["node_id"]


def test_a_kind_lost_mid_cell_is_a_failed_row_and_the_run_completes(cluster_run: Any) -> None:
    """The only B node is stopped mid-cell: its cell becomes a failed row saying why, the A cell of
    the same run is measured and kept."""
    from twinbench.bench.runner import rows_frame, run_cells

    seen: dict[str, Any] = {}
    specs = _specs(cluster_run, ["ort-cpu"], LONG)
    ex = _ray(machines=["hw:cpu-b", "hw:cpu-a"], retries=1, lost_grace_s=3)
    killer = threading.Thread(target=_kill_when_running(seen, port=B_PORT), daemon=True)
    killer.start()
    t0 = time.monotonic()
    df = rows_frame(run_cells(specs, ex))
    killer.join(timeout=5)
    assert seen and time.monotonic() - t0 < 240
    by = {m: r for m, r in zip(df.machine, df.itertuples())}
    print("B row:", by["hw:cpu-b"].error, "| A row:", by["hw:cpu-a"].status)
    assert by["hw:cpu-b"].status == "failed"
    assert "hw:cpu-b" in by["hw:cpu-b"].error or "lost" in by["hw:cpu-b"].error, by["hw:cpu-b"].error
    assert by["hw:cpu-a"].status in ("ok", "invalid"), by["hw:cpu-a"].error
