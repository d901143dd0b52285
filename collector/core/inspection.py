"""The monthly inspection's judgement: what the collector knows about a host, in; findings, out.

An inspection gathers, per host, the playbook's results and the month's evidence the
collector already holds (availability from heartbeats, reboots, alerts, tickets, the
rollup trends, failing checks, the agent version). ``assess`` turns that evidence into
``Finding`` values, each with a severity and a recommendation a customer's IT manager
can act on. It touches no database, network or clock: ``now`` is an argument.

A finding's ``key`` is stable from one month to the next (host, kind and object, never
a date), so the ticket area can refuse to open a second ticket for the same problem
while the first is still open.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Ordered from least to most severe; ``severity_rank`` compares them.
SEVERITIES = ("info", "warning", "major", "critical")

# Words other areas use for the same levels (Prometheus rules, playbook authors).
_SEVERITY_ALIASES = {
    "ok": "info",
    "none": "info",
    "notice": "info",
    "low": "warning",
    "minor": "warning",
    "medium": "warning",
    "warn": "warning",
    "high": "major",
    "error": "major",
    "page": "critical",
    "fatal": "critical",
}


def normalize_severity(value: str) -> str:
    """Map any severity word we meet onto SEVERITIES (unknown words count as warning)."""
    word = (value or "").strip().lower()
    if word in SEVERITIES:
        return word
    return _SEVERITY_ALIASES.get(word, "warning")


def severity_rank(value: str) -> int:
    """0 for info up to 3 for critical."""
    return SEVERITIES.index(normalize_severity(value))


@dataclass(frozen=True)
class TrendPoint:
    """One rollup bucket: its time and the value the trend follows (the bucket average)."""

    at: datetime
    value: float
    max: float | None = None


@dataclass(frozen=True)
class FilesystemTrend:
    mountpoint: str
    size_bytes: float
    avail: tuple[TrendPoint, ...]


@dataclass(frozen=True)
class CheckState:
    """A check whose latest result is not OK (Nagios codes: 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""

    name: str
    status: int
    output: str = ""


@dataclass(frozen=True)
class AlertSummary:
    name: str
    severity: str
    fired: int = 1
    still_firing: bool = False


@dataclass(frozen=True)
class PlaybookFinding:
    """A finding the inspection playbook reported for the host."""

    key: str
    severity: str
    title: str
    details: str = ""
    recommendation: str = ""


@dataclass(frozen=True)
class HostEvidence:
    """Everything known about one host for the inspected period.

    ``not_inspected`` holds why the playbook could not work on the host (unreachable,
    refused key, timeout); the collector's own figures still count.
    """

    host: str
    not_inspected: str | None = None
    availability: float | None = None
    reboots: int = 0
    alerts: tuple[AlertSummary, ...] = ()
    tickets_opened: int = 0
    tickets_open: int = 0
    cpus: int | None = None
    cpu: tuple[TrendPoint, ...] = ()
    memory: tuple[TrendPoint, ...] = ()
    load: tuple[TrendPoint, ...] = ()
    filesystems: tuple[FilesystemTrend, ...] = ()
    failing_checks: tuple[CheckState, ...] = ()
    agent_version: str | None = None
    playbook_findings: tuple[PlaybookFinding, ...] = ()


@dataclass(frozen=True)
class InspectionPolicy:
    """The thresholds an inspection judges by (from the schedule configuration)."""

    availability_warning: float = 0.999
    availability_major: float = 0.99
    reboots_warning: int = 2
    cpu_warning: float = 0.80
    cpu_major: float = 0.95
    memory_warning: float = 0.85
    memory_major: float = 0.95
    load_per_cpu_warning: float = 1.5
    disk_used_warning: float = 0.85
    disk_used_major: float = 0.95
    fill_horizon_days: float = 30.0
    fill_critical_days: float = 7.0
    latest_agent_version: str | None = None


@dataclass(frozen=True)
class Finding:
    key: str
    host: str
    severity: str
    category: str
    title: str
    details: str
    recommendation: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "host": self.host,
            "severity": self.severity,
            "category": self.category,
            "title": self.title,
            "details": self.details,
            "recommendation": self.recommendation,
            "evidence": dict(self.evidence),
        }


def days_until_full(fs: FilesystemTrend, now: datetime) -> float | None:
    """Days from ``now`` until the free space reaches zero at the least-squares trend, or None.

    None when there are fewer than two points, the span is under an hour, or free space
    is not shrinking: a single busy afternoon must not predict a full disk.
    """
    pts = [(p.at.timestamp(), p.value) for p in fs.avail if math.isfinite(p.value)]
    if len(pts) < 2 or pts[-1][0] - pts[0][0] < 3600:
        return None
    n = len(pts)
    mx = sum(t for t, _ in pts) / n
    my = sum(v for _, v in pts) / n
    sxx = sum((t - mx) ** 2 for t, _ in pts)
    if sxx == 0:
        return None
    slope = sum((t - mx) * (v - my) for t, v in pts) / sxx  # bytes per second
    if slope >= 0:
        return None
    # Extrapolate from the fitted value at the newest point, not from the mean.
    fitted_now = my + slope * (now.timestamp() - mx)
    if fitted_now <= 0:
        return 0.0
    return fitted_now / -slope / 86400.0


def _version_tuple(v: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in v.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _p95(points: Sequence[TrendPoint]) -> float | None:
    values = sorted(p.value for p in points if math.isfinite(p.value))
    if not values:
        return None
    return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _host_findings(
    ev: HostEvidence, policy: InspectionPolicy, latest: str | None, now: datetime
) -> Iterator[Finding]:
    h = ev.host
    if ev.not_inspected:
        yield Finding(
            f"{h}:not-inspected", h, "major", "inspection",
            f"{h} was not inspected: {ev.not_inspected}",
            f"The inspection playbook could not run on {h} ({ev.not_inspected}). "
            "The figures below come from the agent's reports only.",
            "Check that the host is reachable over SSH from the service center and that its "
            "host key and the service account's key are current.",
            {"reason": ev.not_inspected},
        )
    if ev.availability is not None:
        sev = None
        if ev.availability < policy.availability_major:
            sev = "major"
        elif ev.availability < policy.availability_warning:
            sev = "warning"
        if sev:
            yield Finding(
                f"{h}:availability", h, sev, "availability",
                f"{h} was available {_pct(ev.availability)} of the period",
                f"Heartbeats show {h} unreachable for {_pct(1 - ev.availability)} of the period.",
                "Review the outages with the customer; check power, network and the agent's service.",
                {"availability": ev.availability},
            )
    if ev.reboots >= policy.reboots_warning:
        yield Finding(
            f"{h}:reboots", h, "warning", "stability",
            f"{h} restarted {ev.reboots} times",
            f"The boot time changed {ev.reboots} times during the period.",
            "Find out whether the restarts were planned; read the system log around each one.",
            {"reboots": ev.reboots},
        )
    for a in ev.alerts:
        if a.still_firing:
            yield Finding(
                f"{h}:alert:{a.name}", h, normalize_severity(a.severity), "alerts",
                f"Alert {a.name} is still firing on {h}",
                f"{a.name} fired {a.fired} time(s) this period and has not recovered.",
                "Work the alert's ticket; the cause is still present.",
                {"alert": a.name, "fired": a.fired},
            )
        elif a.fired >= 3:
            yield Finding(
                f"{h}:alert-recurring:{a.name}", h, "warning", "alerts",
                f"Alert {a.name} fired {a.fired} times on {h}",
                f"{a.name} fired {a.fired} times this period, recovering each time.",
                "A recurring alert points to a cause nobody has fixed yet; look for the pattern.",
                {"alert": a.name, "fired": a.fired},
            )
    yield from _resource_findings(ev, policy)
    for fs in ev.filesystems:
        yield from _filesystem_findings(h, fs, policy, now)
    for c in ev.failing_checks:
        sev = {1: "warning", 2: "major"}.get(c.status, "warning")
        word = {1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}.get(c.status, str(c.status))
        yield Finding(
            f"{h}:check:{c.name}", h, sev, "checks",
            f"Check {c.name} is {word} on {h}",
            c.output or f"The latest result of {c.name} is {word}.",
            "Fix the condition the check reports, or correct the check if it is wrong.",
            {"check": c.name, "status": c.status},
        )
    if latest and ev.agent_version and _version_tuple(ev.agent_version) < _version_tuple(latest):
        yield Finding(
            f"{h}:agent-version", h, "info", "maintenance",
            f"{h} runs agent {ev.agent_version}; {latest} is current",
            f"The monitoring agent on {h} is behind the current release.",
            f"Upgrade the agent to {latest} during the next maintenance window.",
            {"agent_version": ev.agent_version, "latest": latest},
        )
    for pf in ev.playbook_findings:
        yield Finding(
            f"{h}:playbook:{pf.key}", h, normalize_severity(pf.severity), "diagnosis",
            pf.title, pf.details, pf.recommendation or "See the playbook step's output.",
            {"playbook_finding": pf.key},
        )


def _resource_findings(ev: HostEvidence, policy: InspectionPolicy) -> Iterator[Finding]:
    h = ev.host
    for kind, points, warn, major, what in (
        ("cpu", ev.cpu, policy.cpu_warning, policy.cpu_major, "CPU"),
        ("memory", ev.memory, policy.memory_warning, policy.memory_major, "memory"),
    ):
        p95 = _p95(points)
        if p95 is None or p95 < warn:
            continue
        sev = "major" if p95 >= major else "warning"
        yield Finding(
            f"{h}:{kind}", h, sev, "performance",
            f"{what} use on {h} is high ({_pct(p95)} at the 95th percentile)",
            f"Over the period, 5% of the 5-minute averages of {what} use were above {_pct(p95)}.",
            f"Find the processes using the {what}; plan tuning or more capacity.",
            {"p95": p95},
        )
    p95 = _p95(ev.load)
    if p95 is not None and ev.cpus:
        per_cpu = p95 / ev.cpus
        if per_cpu >= policy.load_per_cpu_warning:
            yield Finding(
                f"{h}:load", h, "warning", "performance",
                f"Load on {h} is {per_cpu:.2f} per CPU at the 95th percentile",
                f"The 1-minute load average reached {p95:.2f} on {ev.cpus} CPU(s).",
                "Look for processes waiting on CPU or disk; consider spreading the work.",
                {"p95": p95, "cpus": ev.cpus},
            )


def _filesystem_findings(
    h: str, fs: FilesystemTrend, policy: InspectionPolicy, now: datetime
) -> Iterator[Finding]:
    m = fs.mountpoint
    days = days_until_full(fs, now)
    latest = next((p.value for p in reversed(fs.avail) if math.isfinite(p.value)), None)
    used = 1 - latest / fs.size_bytes if latest is not None and fs.size_bytes > 0 else None
    if days is not None and days <= policy.fill_horizon_days:
        sev = "critical" if days <= policy.fill_critical_days else "major"
        yield Finding(
            f"{h}:disk-fill:{m}", h, sev, "capacity",
            f"{m} on {h} is predicted to fill in {days:.0f} days",
            f"At this period's growth, the free space on {m} runs out around "
            f"{days:.1f} days after the inspection.",
            f"Free space on {m} (old logs, backups, temporary files) or extend the filesystem.",
            {"days_until_full": round(days, 1), "used": used},
        )
    elif used is not None and used >= policy.disk_used_warning:
        sev = "major" if used >= policy.disk_used_major else "warning"
        yield Finding(
            f"{h}:disk-used:{m}", h, sev, "capacity",
            f"{m} on {h} is {_pct(used)} full",
            f"{m} holds {_pct(used)} of its {fs.size_bytes / 1e9:.1f} GB.",
            f"Free space on {m} or extend it before it fills.",
            {"used": used},
        )


def assess(evidence: Iterable[HostEvidence], policy: InspectionPolicy, now: datetime) -> list[Finding]:
    """Every finding for the hosts' evidence, the most severe first, then by host and key.

    The agent version is judged against ``policy.latest_agent_version`` or, when that is
    unset, against the newest version among the hosts inspected together.
    """
    hosts = list(evidence)
    latest = policy.latest_agent_version
    if latest is None:
        versions = [h.agent_version for h in hosts if h.agent_version]
        latest = max(versions, key=_version_tuple) if versions else None
    found: list[Finding] = []
    for ev in hosts:
        found.extend(_host_findings(ev, policy, latest, now))
    found.sort(key=lambda f: (-severity_rank(f.severity), f.host, f.key))
    return found


def counts_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity, every level present (zero when none)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[normalize_severity(f.severity)] += 1
    return counts


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    """The findings whose severity is at least ``threshold``."""
    floor = severity_rank(threshold)
    return [f for f in findings if severity_rank(f.severity) >= floor]
