"""Disk I/O per device, as node_exporter's diskstats collector names it (partitions excluded by regex)."""

from __future__ import annotations

import re

import psutil

from agent.probes import Sample


def collect(out: list[Sample], exclude: re.Pattern[str]) -> None:
    # nowrap=False: the kernel's raw counters, as node_exporter reports them.
    counters = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
    for device, c in counters.items():
        if exclude.search(device):
            continue
        lb = {"device": device}
        out.append(Sample("node_disk_reads_completed_total", lb, float(c.read_count)))
        out.append(Sample("node_disk_writes_completed_total", lb, float(c.write_count)))
        out.append(Sample("node_disk_read_bytes_total", lb, float(c.read_bytes)))
        out.append(Sample("node_disk_written_bytes_total", lb, float(c.write_bytes)))
        out.append(Sample("node_disk_read_time_seconds_total", lb, c.read_time / 1000.0))
        out.append(Sample("node_disk_write_time_seconds_total", lb, c.write_time / 1000.0))
        busy = getattr(c, "busy_time", None)
        if busy is not None:
            out.append(Sample("node_disk_io_time_seconds_total", lb, busy / 1000.0))
