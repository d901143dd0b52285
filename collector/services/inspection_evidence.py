"""What the collector already knows about a host for a period: the inspection's evidence.

Everything here reads the store and nothing else: availability from the report log's
5-minute rollups (a bucket with a report counts as up), reboots from changes of
``node_boot_time_seconds``, alerts from the alert history, tickets, CPU, memory, load and
filesystem trends from the rollups, failing checks and the agent version from the
inventory. The result feeds collector.core.inspection (the judgement) and the reports
(the trends, as JSON-able points).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from collector.core.inspection import (
    AlertSummary,
    CheckState,
    FilesystemTrend,
    HostEvidence,
    TrendPoint,
)
from collector.store import reportlog
from collector.store.inventory import Host

# Trends in reports are averaged into points this long (a month is ~180 points).
TREND_STEP = 4 * 3600
# Filesystems that are not the customer's data (pseudo and container mounts).
_SKIP_FS = ("tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "nsfs", "ramfs")


@dataclass
class HostFacts:
    """One host's evidence plus the JSON-able trends and figures a report shows."""

    evidence: HostEvidence
    trends: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def _dt(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def _buckets(conn: Connection, host_id: str, start: float, end: float) -> set[int]:
    q = (select(reportlog.rollups.c.bucket).distinct()
         .where(reportlog.rollups.c.host_id == host_id, reportlog.rollups.c.bucket >= int(start),
                reportlog.rollups.c.bucket < int(end)))
    return {int(b) for b in conn.execute(q).scalars()}


def availability(conn: Connection, host: Host, start: float, end: float) -> float | None:
    """Share of the period's 5-minute buckets (since the host enrolled) in which it reported."""
    step = reportlog.ROLLUP_STEP
    begin = max(start, host.first_seen)
    if end - begin < step:
        return None
    first = int(begin // step * step)
    expected = len(range(first, int(end), step))
    seen = len(set(_buckets(conn, host.id, first, end)))
    return min(1.0, seen / expected) if expected else None


def _step_average(rows: Iterable[tuple[float, float]], step: int = TREND_STEP) -> list[tuple[float, float]]:
    acc: dict[int, list[float]] = defaultdict(list)
    for t, v in rows:
        if math.isfinite(v):
            acc[int(t // step * step)].append(v)
    return [(float(b), sum(vs) / len(vs)) for b, vs in sorted(acc.items())]


def _series(conn: Connection, host_id: str, name: str, start: float, end: float) -> list[dict[str, Any]]:
    return reportlog.rollup_rows(conn, host_id, name, start, end)


def cpu_trend(conn: Connection, host_id: str, start: float, end: float) -> list[tuple[float, float]]:
    """CPU use (0..1) per bucket from the idle share of ``node_cpu_seconds_total`` increases."""
    idle: dict[int, float] = defaultdict(float)
    total: dict[int, float] = defaultdict(float)
    for r in _series(conn, host_id, "node_cpu_seconds_total", start, end):
        total[r["bucket"]] += r["last"]
        if r["labels"].get("mode") == "idle":
            idle[r["bucket"]] += r["last"]
    out: list[tuple[float, float]] = []
    buckets = sorted(total)
    for a, b in itertools.pairwise(buckets):
        dt_total = total[b] - total[a]
        if dt_total <= 0:  # a counter reset (reboot): skip the interval
            continue
        out.append((float(b), min(1.0, max(0.0, 1.0 - (idle[b] - idle[a]) / dt_total))))
    return out


def _by_bucket(rows: list[dict[str, Any]], key: str = "avg") -> dict[int, float]:
    acc: dict[int, float] = defaultdict(float)
    for r in rows:
        acc[r["bucket"]] += r[key]
    return acc


def memory_trend(conn: Connection, host_id: str, start: float, end: float) -> list[tuple[float, float]]:
    avail = _by_bucket(_series(conn, host_id, "node_memory_MemAvailable_bytes", start, end))
    total = _by_bucket(_series(conn, host_id, "node_memory_MemTotal_bytes", start, end))
    return [(float(b), 1.0 - avail[b] / total[b]) for b in sorted(avail) if total.get(b)]


def load_trend(conn: Connection, host_id: str, start: float, end: float) -> list[tuple[float, float]]:
    rows = _by_bucket(_series(conn, host_id, "node_load1", start, end))
    return [(float(b), v) for b, v in sorted(rows.items())]


def filesystem_trends(conn: Connection, host_id: str, start: float, end: float) -> list[FilesystemTrend]:
    avail: dict[str, list[tuple[float, float]]] = defaultdict(list)
    size: dict[str, float] = {}
    for r in _series(conn, host_id, "node_filesystem_avail_bytes", start, end):
        if r["labels"].get("fstype") in _SKIP_FS:
            continue
        avail[r["labels"].get("mountpoint", "?")].append((float(r["bucket"]), r["avg"]))
    for r in _series(conn, host_id, "node_filesystem_size_bytes", start, end):
        size[r["labels"].get("mountpoint", "?")] = r["last"]
    out = []
    for mount, pts in sorted(avail.items()):
        if not size.get(mount):
            continue
        hourly = _step_average(pts, 3600)
        out.append(FilesystemTrend(mount, size[mount], tuple(TrendPoint(_dt(t), v) for t, v in hourly)))
    return out


def reboots(conn: Connection, host_id: str, start: float, end: float) -> int:
    """Times the boot time moved forward in the period (more than a minute: clock noise is not a boot)."""
    last: float | None = None
    count = 0
    for r in _series(conn, host_id, "node_boot_time_seconds", start, end):
        v = r["last"]
        if last is not None and v - last > 60:
            count += 1
        last = v
    return count


def alert_summaries(conn: Connection, host: str, start: float, end: float) -> list[AlertSummary]:
    from collector.store.alerts import alert_changes, alerts_active

    fired = dict(conn.execute(
        select(alert_changes.c.alertname, func.count())
        .where(alert_changes.c.host == host, alert_changes.c.state == "firing",
               alert_changes.c.at >= start, alert_changes.c.at < end)
        .group_by(alert_changes.c.alertname)).all())
    active = {r.alertname: r for r in conn.execute(
        select(alerts_active.c.alertname, alerts_active.c.labels)
        .where(alerts_active.c.host == host, alerts_active.c.state == "firing"))}
    out = []
    for name in sorted(set(fired) | set(active)):
        labels = active[name].labels if name in active else {}
        out.append(AlertSummary(name, str(labels.get("severity", "warning")), int(fired.get(name, 0)) or 1,
                                still_firing=name in active))
    return out


def ticket_counts(conn: Connection, host: str, start: float, end: float) -> tuple[int, int]:
    """(tickets opened in the period, tickets open now) for the host."""
    from collector.store.tickets import OPEN_STATES, tickets

    opened = conn.execute(select(func.count()).select_from(tickets).where(
        tickets.c.host == host, tickets.c.opened_at >= start, tickets.c.opened_at < end)).scalar_one()
    still = conn.execute(select(func.count()).select_from(tickets).where(
        tickets.c.host == host, tickets.c.state.in_(OPEN_STATES))).scalar_one()
    return int(opened), int(still)


def _points(trend: Iterable[tuple[float, float]]) -> list[list[float]]:
    return [[round(t, 3), round(v, 4)] for t, v in _step_average(trend)]


def gather(conn: Connection, host: Host, start: float, end: float) -> HostFacts:
    """The host's evidence for [start, end), with its trends for the report."""
    cpu = cpu_trend(conn, host.id, start, end)
    mem = memory_trend(conn, host.id, start, end)
    load = load_trend(conn, host.id, start, end)
    fss = filesystem_trends(conn, host.id, start, end)
    alerts = alert_summaries(conn, host.name, start, end)
    opened, still_open = ticket_counts(conn, host.name, start, end)
    failing = tuple(CheckState(str(c.get("name")), int(c.get("status", 3)), str(c.get("output", "")))
                    for c in host.checks if int(c.get("status", 0)) != 0)
    cpus = host.facts.get("cpu_count")
    avail = availability(conn, host, start, end)
    boots = reboots(conn, host.id, start, end)
    evidence = HostEvidence(
        host=host.name, availability=avail, reboots=boots, alerts=tuple(alerts),
        tickets_opened=opened, tickets_open=still_open, cpus=int(cpus) if cpus else None,
        cpu=tuple(TrendPoint(_dt(t), v) for t, v in cpu), memory=tuple(TrendPoint(_dt(t), v) for t, v in mem),
        load=tuple(TrendPoint(_dt(t), v) for t, v in load), filesystems=tuple(fss),
        failing_checks=failing, agent_version=host.agent_version or host.facts.get("agent_version"),
    )
    trends = {
        "cpu": _points(cpu), "memory": _points(mem), "load": _points(load),
        "filesystems": [
            {"mountpoint": fs.mountpoint, "size_bytes": fs.size_bytes,
             "used": (1 - fs.avail[-1].value / fs.size_bytes) if fs.avail else None,
             "days_until_full": None,
             "trend": _points((p.at.timestamp(), 1 - p.value / fs.size_bytes) for p in fs.avail)}
            for fs in fss
        ],
    }
    summary = {
        "availability": avail, "reboots": boots, "alerts": sum(a.fired for a in alerts),
        "tickets_opened": opened, "tickets_open": still_open,
        "failing_checks": [{"name": c.name, "status": c.status, "output": c.output} for c in failing],
        "agent_version": evidence.agent_version,
        "os": host.facts.get("os_release") or host.facts.get("os") or "",
    }
    return HostFacts(evidence, trends, summary)
