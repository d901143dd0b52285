#!/usr/bin/env python3
"""Write upkeep's three Grafana dashboards into deploy/grafana/dashboards/.

    python3 deploy/grafana/build_dashboards.py           # (re)write the JSON files
    python3 deploy/grafana/build_dashboards.py --check   # exit 1 if a file differs from its source here

The queries use only the series named in docs/metrics.md and node_exporter's names, filtered by the
``$customer`` and ``$host`` variables. Series coming through the collector's /federate carry ``host``
and ``customer``; that is how a host's ``up`` is told apart from Prometheus' own ``up`` of each job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dashboard_model import Layout, bars, dashboard, datasource_variable, graph, heat, query_variable, stat
from service_desk import service_desk

OUT = Path(__file__).resolve().parent / "dashboards"

C = 'customer=~"$customer"'
CH = f'{C},host=~"$host"'
H = f'{C},host="$host"'
REAL_FS = 'fstype!~"tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|fuse.*"'
RATE = "$__rate_interval"
PERCENT = {
    "unit": "percentunit",
    "minimum": 0,
    "maximum": 1,
    "thresholds": ((None, "green"), (0.8, "orange"), (0.9, "red")),
}
NOT_OK = ((None, "green"), (1, "orange"))


def customer_variable() -> dict[str, Any]:
    return query_variable("customer", "Customer", 'label_values(up{host!=""}, customer)', multi=True)


def host_variable(*, multi: bool) -> dict[str, Any]:
    return query_variable("host", "Host", f'label_values(up{{host!="",{C}}}, host)', multi=multi)


def fleet_overview() -> dict[str, Any]:
    fs = f"{CH},{REAL_FS}"
    fs_used = (
        f"1 - node_filesystem_avail_bytes{{{fs}}}"
        f" / on (customer, host, mountpoint) node_filesystem_size_bytes{{{fs}}}"
    )
    # Seconds until full at the last hour's rate; +Inf for a filesystem that is not filling up,
    # so the panel still lists every filesystem, the nearest to full first.
    time_to_full = (
        f"node_filesystem_avail_bytes{{{fs}}} / clamp_min(-deriv(node_filesystem_avail_bytes{{{fs}}}[1h]), 0)"
    )
    idle = f'node_cpu_seconds_total{{mode="idle",{CH}}}'
    up = f'up{{host!="",{CH}}}'
    lay = Layout()
    lay.row("Hosts")
    lay.add(stat("Hosts up", f"sum({up})"))
    lay.add(stat("Hosts down", f"sum({up} == bool 0)", thresholds=((None, "green"), (1, "red"))))
    lay.add(
        stat(
            "Checks not OK",
            f"sum(upkeep_check_status{{{CH}}} > bool 0)",
            thresholds=NOT_OK,
            description="Checks whose last result is WARNING, CRITICAL or UNKNOWN.",
        )
    )
    lay.add(
        bars(
            "Hosts up by customer",
            (f"sum by (customer) ({up})", "{{customer}} up"),
            (f"count by (customer) ({up})", "{{customer}} known"),
            width=12,
            height=5,
        )
    )
    lay.row("Filesystems")
    lay.add(bars("Top filesystems by usage", (f"topk(10, {fs_used})", "{{host}} {{mountpoint}}"), **PERCENT))
    lay.add(
        bars(
            "Top filesystems by predicted time to full",
            (f"bottomk(10, {time_to_full})", "{{host}} {{mountpoint}}"),
            unit="s",
            thresholds=((None, "red"), (86400, "orange"), (7 * 86400, "green")),
            description="At the last hour's rate of change; ∞ means the filesystem is not filling up.",
        )
    )
    lay.row("Load heat")
    lay.add(
        heat(
            "CPU busy",
            f"1 - avg by (customer, host) (rate({idle}[{RATE}]))",
            "{{host}}",
            width=8,
            height=10,
            **PERCENT,
        )
    )
    lay.add(
        heat(
            "Memory used",
            f"1 - node_memory_MemAvailable_bytes{{{CH}}}"
            f" / on (customer, host) node_memory_MemTotal_bytes{{{CH}}}",
            "{{host}}",
            width=8,
            height=10,
            **PERCENT,
        )
    )
    lay.add(
        heat(
            "Load per CPU",
            f"node_load1{{{CH}}} / on (customer, host) count by (customer, host) ({idle})",
            "{{host}}",
            width=8,
            height=10,
            thresholds=((None, "green"), (1, "orange"), (2, "red")),
        )
    )
    return dashboard(
        uid="upkeep-fleet",
        title="upkeep / Fleet overview",
        description="Every host of the selected customers: availability, filesystems, CPU, memory and load.",
        variables=[datasource_variable(), customer_variable(), host_variable(multi=True)],
        layout=lay,
    )


def host_detail() -> dict[str, Any]:
    # The agent's own figures (upkeep_agent_*) may arrive twice: through /federate and from the
    # agent's /metrics (still fresh while pushes fail); max() shows one line either way.
    fs = f"{H},{REAL_FS}"
    mem_total = f"node_memory_MemTotal_bytes{{{H}}}"
    lay = Layout()
    lay.row("Summary")
    lay.add(stat("Up", f'up{{host!="",{H}}}', width=4, height=4, thresholds=((None, "red"), (1, "green"))))
    lay.add(stat("Uptime", f"node_time_seconds{{{H}}} - node_boot_time_seconds{{{H}}}", unit="s", height=4))
    lay.add(stat("CPUs", f'count(node_cpu_seconds_total{{mode="idle",{H}}})', height=4))
    lay.add(stat("Memory", mem_total, unit="bytes", height=4))
    lay.add(stat("Checks not OK", f"sum(upkeep_check_status{{{H}}} > bool 0)", height=4, thresholds=NOT_OK))
    lay.add(
        stat(
            "Reports in the agent's spool",
            f"max(upkeep_agent_spool_reports{{{H}}})",
            height=4,
            thresholds=((None, "green"), (10, "orange")),
        )
    )
    lay.row("CPU and memory")
    lay.add(
        graph(
            "CPU by mode",
            (
                f'sum by (mode) (rate(node_cpu_seconds_total{{{H},mode!="idle"}}[{RATE}]))'
                f' / scalar(count(node_cpu_seconds_total{{{H},mode="idle"}}))',
                "{{mode}}",
            ),
            unit="percentunit",
            options={"stacking": {"mode": "normal"}},
        )
    )
    lay.add(
        graph(
            "Load", (f"node_load1{{{H}}}", "1m"), (f"node_load5{{{H}}}", "5m"), (f"node_load15{{{H}}}", "15m")
        )
    )
    lay.add(
        graph(
            "Memory",
            (mem_total, "total"),
            (f"{mem_total} - node_memory_MemAvailable_bytes{{{H}}}", "used"),
            (f"node_memory_SwapTotal_bytes{{{H}}} - node_memory_SwapFree_bytes{{{H}}}", "swap used"),
            unit="bytes",
        )
    )
    lay.add(
        graph("Processes", (f"upkeep_processes{{{H}}}", "{{state}}"), (f"upkeep_threads{{{H}}}", "threads"))
    )
    lay.row("Disks and filesystems")
    lay.add(
        bars(
            "Filesystem usage",
            (
                f"1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}",
                "{{mountpoint}}",
            ),
            **PERCENT,
        )
    )
    lay.add(
        graph("Filesystem free", (f"node_filesystem_avail_bytes{{{fs}}}", "{{mountpoint}}"), unit="bytes")
    )
    lay.add(
        graph(
            "Disk busy",
            (f"rate(node_disk_io_time_seconds_total{{{H}}}[{RATE}])", "{{device}}"),
            unit="percentunit",
        )
    )
    lay.add(
        graph(
            "Disk throughput",
            (f"rate(node_disk_read_bytes_total{{{H}}}[{RATE}])", "{{device}} read"),
            (f"-rate(node_disk_written_bytes_total{{{H}}}[{RATE}])", "{{device}} written"),
            unit="Bps",
        )
    )
    lay.row("Network")
    lay.add(
        graph(
            "Network traffic",
            (f'rate(node_network_receive_bytes_total{{{H},device!="lo"}}[{RATE}])', "{{device}} in"),
            (f'-rate(node_network_transmit_bytes_total{{{H},device!="lo"}}[{RATE}])', "{{device}} out"),
            unit="Bps",
        )
    )
    lay.add(
        graph(
            "Network errors",
            (f"rate(node_network_receive_errs_total{{{H}}}[{RATE}])", "{{device}} in"),
            (f"rate(node_network_transmit_errs_total{{{H}}}[{RATE}])", "{{device}} out"),
            unit="pps",
        )
    )
    lay.row("Checks and agent")
    lay.add(
        heat(
            "Checks (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
            f"upkeep_check_status{{{H}}}",
            "{{check}}",
            width=24,
            thresholds=((None, "green"), (1, "orange"), (2, "red"), (3, "purple")),
        )
    )
    lay.add(
        graph(
            "Agent collection time",
            (f"max(upkeep_agent_collection_duration_seconds{{{H}}})", "collection"),
            unit="s",
        )
    )
    lay.add(
        graph(
            "Agent push failures and spool",
            (f"max(increase(upkeep_agent_push_failures_total{{{H}}}[{RATE}]))", "failed pushes"),
            (f"max(upkeep_agent_spool_reports{{{H}}})", "spooled reports"),
        )
    )
    return dashboard(
        uid="upkeep-host",
        title="upkeep / Host detail",
        description="One host as its agent reports it, in node_exporter's terms, with its checks.",
        variables=[datasource_variable(), customer_variable(), host_variable(multi=False)],
        layout=lay,
    )


DASHBOARDS = {
    "fleet-overview.json": fleet_overview,
    "host-detail.json": host_detail,
    "service-desk.json": lambda: service_desk(customer_variable()),
}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    OUT.mkdir(exist_ok=True)
    stale = []
    for name in DASHBOARDS:
        path = OUT / name
        text = render(name)
        if not check:
            path.write_text(text, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    if stale:
        print(f"stale dashboards, run {Path(__file__).name}: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
