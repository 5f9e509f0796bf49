"""`twinbench check-system`: what on this machine makes timings noisy, checked now.

In the spirit of `pyperf system show`: each finding is a fact read from the kernel (or measured
for a few seconds) with a plain verdict, `ok`, `warn` (makes figures noisy or drift) or `info`
(worth knowing, nothing to fix here). The probe part times bench/probe.py back to back, exactly
as the benchmark does between rounds, and reports how often the machine sat in its slow state.

`check` is the Python API's; `main` is the command line's body (always exit 0: the verdict is
advice, not a failure).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from twinbench.bench.probe import probe
from twinbench.bench.repeats import fast_level, is_fast
from twinbench.core.console import make_console, styled
from twinbench.core.machine import cores, frequency, memory, virtualization
from twinbench.summary import Answer

#: Rounds of the state probe last this long, like the benchmark's timing rounds (TimingPlan.round_s).
ROUND_S = 0.05
#: More than this fraction of slow rounds is a warning (compare only state-matched figures then).
SLOW_WARN = 0.10
#: Steal above this share of CPU time: the hypervisor is running someone else on our vCPUs.
STEAL_WARN = 0.02
#: Another process above this share of one CPU counts as busy.
BUSY_SHARE = 0.20


@dataclass(frozen=True)
class Finding:
    name: str
    value: str
    level: str  # ok | warn | info
    advice: str = ""


def _cpu_times() -> list[int]:
    first = (Path("/proc/stat").read_text().splitlines() or [""])[0].split()
    return [int(v) for v in first[1:]] if first and first[0] == "cpu" else []


def _process_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (command name, user+system clock ticks) of every process we can read."""
    out: dict[int, tuple[str, int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rfind(")")
        fields = stat[name_end + 2:].split()
        if len(fields) > 12:
            out[int(d.name)] = (stat[stat.find("(") + 1:name_end], int(fields[11]) + int(fields[12]))
    return out


def probe_states(seconds: float = 3.0) -> dict[str, Any]:
    """Time the benchmark's state probe once per ~50 ms round for `seconds`, busy in between;
    classify rounds as fast or slow the way bench/repeats.py does."""
    probes: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        probes.append(probe()[0] / 1e3)
        round_end = time.perf_counter() + ROUND_S
        while time.perf_counter() < round_end:
            probe()
    level = fast_level(probes)
    fast = [bool(f) for f in is_fast(probes, level)]
    flips = sum(1 for a, b in zip(fast, fast[1:]) if a != b)
    slow = [p for p, f in zip(probes, fast) if not f]
    return {"rounds": len(probes), "slow_fraction": (len(slow) / len(probes)) if probes else 0.0, "flips": flips,
            "fast_probe_us": level, "slow_over_fast": (sorted(slow)[len(slow) // 2] / level) if slow else 1.0}


def check(seconds: float = 3.0) -> list[Finding]:
    """Every finding, the probe window included (about `seconds` long)."""
    n = cores()
    freq = frequency()
    out = [_governor(freq["governor"]), _turbo(freq["turbo"])]
    if freq["smt"] is not None:
        out.append(Finding("SMT (hyper-threading)", "on" if freq["smt"] else "off", "info",
                           "siblings share a core: pin threads to separate cores" if freq["smt"] else ""))
    out.append(Finding("isolated CPUs", freq["isolated_cpus"] or "none", "info",
                       "" if freq["isolated_cpus"] else "isolcpus= on the kernel command line keeps other work off"))
    virt = virtualization()
    where = ", ".join(f"{k} {v}" for k, v in virt.items() if v) or "bare metal"
    out.append(Finding("virtualization", where, "info",
                       "a VM's vCPUs share host cores: watch steal time and the slow state" if virt["vm"] else ""))
    mem = memory()
    if mem["total_gb"] and mem["available_gb"] is not None:
        low = mem["available_gb"] < 0.1 * mem["total_gb"]
        out.append(Finding("memory available", f"{mem['available_gb']} of {mem['total_gb']} GB", "warn" if low else "ok",
                           "little free memory: the page cache and swapping disturb timings" if low else ""))
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out.append(Finding("load average (1 min)", f"{load1:.2f} on {n} CPUs",
                       "warn" if load1 >= 0.5 * n else "ok",
                       "other work is running: it shares the cores the benchmark uses" if load1 >= 0.5 * n else ""))

    cpu0, procs0, t0 = _cpu_times(), _process_ticks(), time.perf_counter()
    states = probe_states(seconds)
    cpu1, procs1, elapsed = _cpu_times(), _process_ticks(), time.perf_counter() - t0
    out.append(_steal(cpu0, cpu1))
    out.append(_busy(procs0, procs1, elapsed))
    out.append(_states(states))
    return out


def _governor(gov: str | None) -> Finding:
    if gov is None:
        return Finding("CPU frequency governor", "not exposed", "info",
                       "no cpufreq in /sys (a VM or container): the host decides the clock")
    ok = gov == "performance"
    return Finding("CPU frequency governor", gov, "ok" if ok else "warn",
                   "" if ok else "the clock follows the load: `sudo cpupower frequency-set -g performance`")


def _turbo(turbo: bool | None) -> Finding:
    if turbo is None:
        return Finding("turbo boost", "not exposed", "info", "")
    return Finding("turbo boost", "on" if turbo else "off", "warn" if turbo else "ok",
                   "the clock depends on temperature and load: turn it off for stable figures" if turbo else "")


def _steal(before: list[int], after: list[int]) -> Finding:
    if len(before) < 8 or len(after) < 8:
        return Finding("steal time", "not readable", "info")
    total = sum(after[:8]) - sum(before[:8])
    share = (after[7] - before[7]) / total if total > 0 else 0.0
    warn = share > STEAL_WARN
    return Finding("steal time", f"{share:.1%} of CPU time", "warn" if warn else "ok",
                   "the hypervisor ran others on these vCPUs during the check" if warn else "")


def _busy(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], seconds: float) -> Finding:
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    me = os.getpid()
    busy = []
    for pid, (name, ticks) in after.items():
        if pid == me or pid not in before:
            continue
        share = (ticks - before[pid][1]) / hz / max(seconds, 1e-6)
        if share >= BUSY_SHARE:
            busy.append((share, f"{name}[{pid}] {share:.0%}"))
    busy.sort(reverse=True)
    if not busy:
        return Finding("other busy processes", "none", "ok")
    return Finding("other busy processes", ", ".join(b for _, b in busy[:5]) + (" ..." if len(busy) > 5 else ""),
                   "warn", "they compete with the benchmark for CPU time and caches")


def _states(s: dict[str, Any]) -> Finding:
    value = (f"slow in {s['slow_fraction']:.0%} of {s['rounds']} rounds, {s['flips']} flips, "
             f"slow probe {s['slow_over_fast']:.2f}x the fast one")
    warn = s["slow_fraction"] > SLOW_WARN
    return Finding("fast/slow state (bench/probe.py)", value, "warn" if warn else "ok",
                   "figures are state-matched (docs/measurement.md); more --repeats find the fast state"
                   if warn else "")


def verdict(findings: list[Finding]) -> str:
    warns = [f.name for f in findings if f.level == "warn"]
    if not warns:
        return "verdict: QUIET: nothing found that makes timings noisy"
    return f"verdict: NOISY: {len(warns)} finding(s) make timings noisy ({', '.join(warns)})"


def as_dict(findings: list[Finding]) -> dict[str, Any]:
    """The `--json` object's body: QUIET or NOISY, and every finding."""
    return {"verdict": verdict(findings).split(":")[1].strip(), "findings": [asdict(f) for f in findings]}


def show(findings: list[Finding]) -> None:
    """The findings as a table (values read from /proc and /sys: data, shown with markup off), then the verdict."""
    from rich.table import Table

    table = Table("check", "value", "", "advice")
    marks = {"ok": styled("ok", ""), "warn": styled("WARN", "bold yellow"), "info": styled("info", "dim")}
    for f in findings:
        table.add_row(str(f.name), str(f.value), marks[f.level], str(f.advice))
    console = make_console()
    console.print(table)
    console.print(verdict(findings))


def main(*, seconds: float = 3.0) -> Answer:
    findings = check(seconds)
    return Answer(0, as_dict(findings), lambda: show(findings))
