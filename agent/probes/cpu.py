"""CPU seconds per cpu and mode, as node_exporter's cpu collector reports them."""

from __future__ import annotations

from agent.probes import Sample
from agent.procfs import cpu_times

# node_exporter's modes; guest time is already inside user on Linux, as in /proc/stat.
_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def collect(out: list[Sample]) -> None:
    for cpu, times in cpu_times():
        for mode in _MODES:
            v = times.get(mode)
            if v is not None:
                out.append(Sample("node_cpu_seconds_total", {"cpu": cpu, "mode": mode}, float(v)))
