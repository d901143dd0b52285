"""The inspection's judgement: evidence in, findings out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from collector.core.inspection import (
    AlertSummary,
    CheckState,
    FilesystemTrend,
    HostEvidence,
    InspectionPolicy,
    PlaybookFinding,
    TrendPoint,
    assess,
    at_or_above,
    counts_by_severity,
    days_until_full,
    normalize_severity,
)

NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
GB = 1e9


def daily(values: list[float], end: datetime = NOW) -> tuple[TrendPoint, ...]:
    start = end - timedelta(days=len(values) - 1)
    return tuple(TrendPoint(start + timedelta(days=i), v) for i, v in enumerate(values))


def test_a_filesystem_losing_a_gigabyte_a_day_with_ten_left_fills_in_ten_days() -> None:
    fs = FilesystemTrend("/var", 100 * GB, daily([float(40 - i) * GB for i in range(31)]))
    assert round(days_until_full(fs, NOW), 6) == 10.0


def test_a_filesystem_that_grows_emptier_never_fills() -> None:
    fs = FilesystemTrend("/", 100 * GB, daily([float(10 + i) * GB for i in range(10)]))
    assert days_until_full(fs, NOW) is None
    assert days_until_full(FilesystemTrend("/", 1.0, daily([0.5])), NOW) is None


@given(st.floats(min_value=0.1, max_value=50), st.floats(min_value=1, max_value=100))
def test_fill_prediction_recovers_a_straight_line(rate_gb: float, left_gb: float) -> None:
    values = [(left_gb + rate_gb * (30 - i)) * GB for i in range(31)]
    fs = FilesystemTrend("/data", 10_000 * GB, daily(values))
    assert abs(days_until_full(fs, NOW) - left_gb / rate_gb) < 1e-6 * max(1.0, left_gb / rate_gb)


def _healthy(name: str, **over: object) -> HostEvidence:
    base = {
        "host": name, "availability": 1.0, "cpus": 4,
        "cpu": daily([0.2] * 30), "memory": daily([0.5] * 30), "load": daily([1.0] * 30),
        "filesystems": (FilesystemTrend("/", 100 * GB, daily([60 * GB] * 30)),),
        "agent_version": "0.1.0",
    }
    base.update(over)
    return HostEvidence(**base)  # type: ignore[arg-type]


def test_a_healthy_host_has_no_findings() -> None:
    assert assess([_healthy("web1")], InspectionPolicy(), NOW) == []


def test_every_kind_of_evidence_becomes_a_finding_with_a_recommendation() -> None:
    sick = _healthy(
        "db1",
        availability=0.98,
        reboots=3,
        alerts=(AlertSummary("DiskFull", "critical", 2, still_firing=True),
                AlertSummary("Swap", "warning", 4)),
        cpu=daily([0.97] * 30),
        memory=daily([0.9] * 30),
        load=daily([8.0] * 30),
        filesystems=(FilesystemTrend("/var", 100 * GB, daily([float(40 - i) * GB for i in range(31)])),
                     FilesystemTrend("/", 100 * GB, daily([4 * GB] * 30))),
        failing_checks=(CheckState("ntp", 2, "offset 3 s"),),
        agent_version="0.0.9",
        playbook_findings=(PlaybookFinding("raid-degraded", "high", "RAID degraded", "md0 [U_]"),),
    )
    found = assess([sick, _healthy("web1", agent_version="0.1.0")], InspectionPolicy(), NOW)
    keys = {f.key: f for f in found}
    assert set(keys) == {
        "db1:availability", "db1:reboots", "db1:alert:DiskFull", "db1:alert-recurring:Swap", "db1:cpu",
        "db1:memory", "db1:load", "db1:disk-fill:/var", "db1:disk-used:/", "db1:check:ntp",
        "db1:agent-version", "db1:playbook:raid-degraded",
    }
    assert keys["db1:availability"].severity == "major"
    assert keys["db1:disk-fill:/var"].severity == "major"
    assert keys["db1:disk-fill:/var"].evidence["days_until_full"] == 10.0
    assert keys["db1:disk-used:/"].severity == "major"
    assert keys["db1:playbook:raid-degraded"].severity == "major"
    assert all(f.recommendation for f in found)
    ranks = [("info", "warning", "major", "critical").index(f.severity) for f in found]
    assert ranks == sorted(ranks, reverse=True), "the most severe come first"


def test_a_host_not_inspected_is_a_finding_of_its_own() -> None:
    found = assess([HostEvidence("fw1", not_inspected="connection refused")], InspectionPolicy(), NOW)
    assert [(f.key, f.severity) for f in found] == [("fw1:not-inspected", "major")]
    assert "connection refused" in found[0].title


def test_threshold_and_counts() -> None:
    found = assess([_healthy("a", reboots=5, agent_version="0.0.1"), _healthy("b", availability=0.5)],
                   InspectionPolicy(latest_agent_version="0.2.0"), NOW)
    assert counts_by_severity(found) == {"info": 2, "warning": 1, "major": 1, "critical": 0}
    assert [f.key for f in at_or_above(found, "major")] == ["b:availability"]
    assert normalize_severity("HIGH") == "major"
    assert normalize_severity("nonsense") == "warning"


def test_finding_keys_do_not_depend_on_the_month() -> None:
    ev = _healthy("db1", reboots=4)
    assert [f.key for f in assess([ev], InspectionPolicy(), NOW)] == [
        f.key for f in assess([ev], InspectionPolicy(), NOW + timedelta(days=30))
    ]
