"""CPU seconds per cpu and mode, as node_exporter's cpu collector reports them."""

from __future__ import annotations

import psutil

from agent.probes import Sample

# node_exporter's modes; guest time is already inside user on Linux, as in /proc/stat.
_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def collect(out: list[Sample]) -> None:
    for i, t in enumerate(psutil.cpu_times(percpu=True)):
        cpu = str(i)
        for mode in _MODES:
            v = getattr(t, mode, None)
            if v is not None:
                out.append(Sample("node_cpu_seconds_total", {"cpu": cpu, "mode": mode}, float(v)))
