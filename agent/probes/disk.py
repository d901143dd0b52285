"""Disk I/O per device, as node_exporter's diskstats collector names it (partitions excluded by regex)."""

from __future__ import annotations

from agent.probes import Sample
from agent.procfs import disk_io

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re


def collect(out: list[Sample], exclude: re.Pattern[str]) -> None:
    for device, c in disk_io().items():
        if exclude.search(device):
            continue
        lb = {"device": device}
        out.append(Sample("node_disk_reads_completed_total", lb, float(c["read_count"])))
        out.append(Sample("node_disk_writes_completed_total", lb, float(c["write_count"])))
        out.append(Sample("node_disk_read_bytes_total", lb, float(c["read_bytes"])))
        out.append(Sample("node_disk_written_bytes_total", lb, float(c["write_bytes"])))
        out.append(Sample("node_disk_read_time_seconds_total", lb, c["read_time"] / 1000.0))
        out.append(Sample("node_disk_write_time_seconds_total", lb, c["write_time"] / 1000.0))
        busy = c.get("busy_time")
        if busy is not None:
            out.append(Sample("node_disk_io_time_seconds_total", lb, busy / 1000.0))
