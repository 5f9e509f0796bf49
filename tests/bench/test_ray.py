"""The Ray executor. Shipping (files out, fresh process on the node, files back) and the machine
dimension are checked here on their own; the cluster checks (ray_cluster_checks.py) run on a real
Ray cluster of three nodes started on loopback inside a fresh network and PID namespace, so no
traffic can leave 127.0.0.1 and no Ray process outlives the test. Without `unshare` (root) or
without Ray they skip with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from twinbench.bench.cells import CellSpec, plan_cells
from twinbench.bench.executors.ray import per_machine
from twinbench.bench.executors.shipping import ShipError, land, outbound, run_shipped
from twinbench.core.errors import ConfigError
from twinbench.core.layout import RunDir

HERE = Path(__file__).parent
#: Small plans: two cells share these 2 cores, so spread is not judged here.
QUICK = {"warmup_iters": 1, "warmup_s": 0.0, "min_iters": 5, "min_s": 0.05, "max_s": 1.0, "repeats": 1,
         "max_spread": 1e9}
#: Flags every node of the test cluster shares: loopback, a small object store, no dashboard, no usage report.
COMMON = "--node-ip-address 127.0.0.1 --num-cpus 1 --object-store-memory 100000000 --disable-usage-stats"


def _spec(tiny_run: Any, **kw: Any) -> CellSpec:
    specs, _ = plan_cells(tiny_run.run_dir, [tiny_run.artifacts["torch-script"]], ["ort-cpu"], ["cpu"], [2], [6], [1],
                          QUICK, {}, [], 40, **kw)
    return specs[0]


# the machine dimension -----------------------------------------------------------------------
def test_per_machine_copies_every_cell_once_per_kind(tiny_run: Any) -> None:
    spec = _spec(tiny_run)
    a, b = per_machine([spec], ["hw:cpu-a", "hw:cpu-b"])
    assert (a.cell_id, a.machine) == (f"{spec.cell_id}.hw_cpu-a", "hw:cpu-a")
    assert (b.cell_id, b.machine) == (f"{spec.cell_id}.hw_cpu-b", "hw:cpu-b")
    assert a.parity_inputs == spec.parity_inputs and a.run_dir == spec.run_dir
    assert per_machine([a, b], ["hw:cpu-a", "hw:cpu-b"]) == [a, b]  # expanding twice changes nothing


def test_the_machine_tag_goes_before_a_repeat_suffix(tiny_run: Any) -> None:
    import dataclasses

    spec = _spec(tiny_run)
    rep = dataclasses.replace(spec, repeat=2, cell_id=f"{spec.cell_id}.r2")
    (copy,) = per_machine([rep], ["gpu:h100"])
    assert copy.cell_id == f"{spec.cell_id}.gpu_h100.r2"  # repeats of one machine share a base id


def test_colliding_machine_tags_are_refused(tiny_run: Any) -> None:
    with pytest.raises(ConfigError, match="collide"):
        per_machine([_spec(tiny_run)], ["hw:a", "hw_a"])


def test_machines_need_an_executor_that_places_cells() -> None:
    from twinbench.config import check_config, load_config

    with pytest.raises(ConfigError, match="--executor ray"):
        check_config(load_config(None, {"machines": ("hw:cpu-a",)}))


def test_executor_options_are_checked() -> None:
    from twinbench.bench.executors import get_executor

    with pytest.raises(ConfigError, match=r"unknown key\(s\) adress"):
        get_executor("ray", adress="127.0.0.1:6390")
    with pytest.raises(ConfigError, match="retries"):
        get_executor("ray", retries=-1)


# shipping without a cluster ------------------------------------------------------------------
def test_outbound_lists_every_file_the_worker_reads(tiny_run: Any) -> None:
    spec = _spec(tiny_run)
    files = outbound(spec)
    assert set(files) == set(spec.files())
    assert all(p.is_file() for p in files.values())
    bad = CellSpec.from_dict(dict(spec.to_dict(), parity_inputs="../elsewhere.npz"))
    with pytest.raises(ShipError, match="inside the run directory"):
        outbound(bad)


def test_a_shipped_cell_lands_where_a_local_one_would(tiny_run: Any, tmp_path: Path) -> None:
    """Run on a 'node' (a temporary directory holding only the shipped bytes), land in the run."""
    (spec,) = per_machine([_spec(tiny_run)], ["hw:cpu-a"])
    shipped = {name: path.read_bytes() for name, path in outbound(spec).items()}
    result = run_shipped(spec.to_dict(), shipped, timeout_s=120, tmp_root=str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # the node's temporary run directory is gone
    row = land(spec, result, {"host": "node-1"})
    assert row["status"] == "ok", row["error"]
    files = RunDir(tiny_run.run_dir).cell(spec.cell_id)
    on_disk = json.loads(files.row.read_text())
    assert on_disk["machine"] == "hw:cpu-a" and json.loads(on_disk["machine_info"]) == {"host": "node-1"}
    assert files.samples.is_file() and files.outputs.is_file() and files.log.is_file()
    assert json.loads(files.spec.read_text())["run_dir"] == str(tiny_run.run_dir)
    assert on_disk["samples_file"] == f"cells/{files.samples.name}"


def test_user_modules_given_as_files_travel_with_the_cell(tiny_run: Any, bad_runtimes: str, tmp_path: Path) -> None:
    spec = CellSpec.from_dict(dict(_spec(tiny_run, parity=False).to_dict(), runtime="test-raise",
                                   extra_modules=[bad_runtimes], cell_id="shipped-module"))
    shipped = {name: path.read_bytes() for name, path in outbound(spec).items()}
    assert any(name.startswith("_modules/") for name in shipped)
    result = run_shipped(spec.to_dict(), shipped, timeout_s=120, tmp_root=str(tmp_path))
    # the runtime was found on the "node" (its module came along) and failed its own way
    assert "always fails to load" in result["row"]["error"]


# the real cluster ----------------------------------------------------------------------------
def _namespace_reason() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'twinbench[ray]')"
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            return f"{tool} not found: the cluster tests need a private network namespace"
    try:
        ok = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True,
                            timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return None if ok else "cannot create a network + PID namespace here (unshare needs root)"


CLUSTER = r"""
set -u
ip link set lo up
export RAY_health_check_period_ms=500 RAY_health_check_failure_threshold=4 RAY_health_check_timeout_ms=1000
stop() {{ ray stop --force >/dev/null 2>&1; }}
trap stop EXIT
ray start --head --port 6390 {common} --include-dashboard=false --temp-dir {tmp} \
  --node-manager-port 6400 --dashboard-agent-listen-port 52400 --min-worker-port 7000 --max-worker-port 7099 \
  --ray-client-server-port 6391 >{tmp}/head.log 2>&1 || {{ cat {tmp}/head.log; exit 90; }}
ray start --address 127.0.0.1:6390 {common} --resources '{{"twinbench-slot": 1, "hw:cpu-a": 1}}' \
  --node-manager-port 6401 --dashboard-agent-listen-port 52401 --min-worker-port 7100 --max-worker-port 7199 \
  >{tmp}/a.log 2>&1 || {{ cat {tmp}/a.log; exit 91; }}
ray start --address 127.0.0.1:6390 {common} --resources '{{"twinbench-slot": 1, "hw:cpu-b": 1}}' \
  --node-manager-port 6402 --dashboard-agent-listen-port 52402 --min-worker-port 7200 --max-worker-port 7299 \
  >{tmp}/b.log 2>&1 || {{ cat {tmp}/b.log; exit 92; }}
TWINBENCH_RAY_ADDRESS=127.0.0.1:6390 "{python}" -m pytest -v -x -p no:cacheprovider "{checks}" {extra}
"""


@pytest.mark.slow
def test_on_a_three_node_cluster_on_loopback(tmp_path: Path) -> None:
    reason = _namespace_reason()
    if reason:
        pytest.skip(reason)
    tmp = Path("/tmp") / f"tbray{os.getpid()}"  # short: Ray's socket paths must fit 107 bytes
    tmp.mkdir(exist_ok=True)
    try:
        script = CLUSTER.format(common=COMMON, tmp=tmp, python=sys.executable, checks=HERE / "ray_cluster_checks.py",
                                extra=f"--basetemp {tmp_path / 'inner'}")
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        env.pop("RAY_ADDRESS", None)
        proc = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "bash", "-c", script], capture_output=True,
                              text=True, timeout=1500, env=env, cwd=HERE.parent.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(proc.stdout[-3000:])  # the inner checks' summary, shown with -rP
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-3000:]


# the report ----------------------------------------------------------------------------------
def test_one_run_on_two_kinds_of_machine_is_compared_side_by_side(tmp_path: Path) -> None:
    import pandas as pd

    sys.path.insert(0, str(HERE.parent / "reports"))
    from reportlib import assert_valid_tables, make_run

    from twinbench.reports.hardware import hardware_markdown, hardware_table
    from twinbench.reports.markdown import render_markdown
    from twinbench.core.tables import write_table
    from twinbench.reports.tables import load_run

    run_dir = make_run(tmp_path, "ray-run", seed=1)
    res = pd.read_parquet(run_dir / "results.parquet")
    info = {"hw:cpu-a": {"cpu_model": "Xeon A", "host": "node-a", "fingerprint": "aaaa", "cpu_cores": 2,
                         "versions": {"onnxruntime": "9.9"}},
            "hw:cpu-b": {"cpu_model": "EPYC B", "host": "node-b", "fingerprint": "bbbb", "cpu_cores": 8}}
    parts = []
    for tag, slower in (("hw:cpu-a", 1.0), ("hw:cpu-b", 2.0)):
        part = res.assign(machine=tag, machine_info=json.dumps(info[tag]))
        parts.append(part.assign(p50_ms=part["p50_ms"] * slower))
    write_table(pd.concat(parts, ignore_index=True), run_dir, "results")

    df = hardware_table([run_dir])
    machines = df.attrs["machines"]
    assert [m["cpu_model"] for m in machines] == ["Xeon A", "EPYC B"]
    assert machines[0]["run_id"].endswith("[hw:cpu-a]") and "onnxruntime 9.9" in machines[0]["versions"]
    assert df["m1 vs base"].dropna().between(1.99, 2.01).all() and len(df)
    assert assert_valid_tables(hardware_markdown(df)) >= 2
    md = render_markdown(load_run(run_dir))
    assert "## Machines side by side" in md and "hw:cpu-b" in md and "EPYC B" in md
    assert_valid_tables(md)
