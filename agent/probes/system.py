"""Load, boot time, clock, uname and process/thread counts."""

from __future__ import annotations

import functools
import os
import time

from agent.probes import Sample
from agent.procfs import LINUX, boot_time, pid_count


@functools.cache
def _uname_labels() -> dict[str, str]:
    u = os.uname()
    # node_exporter also reports the NIS domain name, which os.uname() does not carry.
    try:
        with open("/proc/sys/kernel/domainname", encoding="ascii") as f:
            domain = f.read().strip() or "(none)"
    except OSError:
        domain = "(none)"
    return {"domainname": domain, "machine": u.machine, "nodename": u.nodename,
            "release": u.release, "sysname": u.sysname, "version": u.version}


def _proc_stat_procs() -> tuple[float, float] | None:
    """(running, blocked) tasks from /proc/stat, the figures behind node_procs_{running,blocked}."""
    try:
        with open("/proc/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    running = blocked = None
    for line in text.splitlines():
        if line.startswith(b"procs_running "):
            running = float(line.split()[1])
        elif line.startswith(b"procs_blocked "):
            blocked = float(line.split()[1])
    if running is None or blocked is None:
        return None
    return running, blocked


def _threads() -> float | None:
    """All threads on the host: /proc/loadavg's fourth field is running/total scheduling entities."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return float(f.read().split()[3].split(b"/")[1])
    except (OSError, IndexError, ValueError):
        return None


# Counting processes lists /proc, the dearest read of a cycle on a busy host; the count is
# refreshed this often and reused in between (threads, from /proc/loadavg, are always fresh).
PROCESS_COUNT_MAX_AGE = 60.0
_process_count: tuple[float, float] | None = None  # (monotonic time, count)


def _processes() -> float:
    global _process_count
    now = time.monotonic()
    if _process_count is None or now - _process_count[0] > PROCESS_COUNT_MAX_AGE:
        _process_count = (now, float(pid_count()))
    return _process_count[1]


def collect(out: list[Sample], now: float) -> None:
    l1, l5, l15 = os.getloadavg()
    out.append(Sample("node_load1", {}, l1))
    out.append(Sample("node_load5", {}, l5))
    out.append(Sample("node_load15", {}, l15))
    out.append(Sample("node_boot_time_seconds", {}, boot_time()))
    out.append(Sample("node_time_seconds", {}, now))
    out.append(Sample("node_uname_info", _uname_labels(), 1.0))
    out.append(Sample("upkeep_processes", {"state": "all"}, _processes()))
    if LINUX:
        procs = _proc_stat_procs()
        if procs is not None:
            out.append(Sample("node_procs_running", {}, procs[0]))
            out.append(Sample("node_procs_blocked", {}, procs[1]))
        threads = _threads()
        if threads is not None:
            out.append(Sample("upkeep_threads", {}, threads))
