"""Schedules fire at the customer's local times, across daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.config import build_config
from collector.errors import ConfigError
from collector.scheduling.definitions import contract_cron, desired_jobs


def fire_times(trigger, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    prev = None
    now = start
    for _ in range(n):
        prev = trigger.get_next_fire_time(prev, now)
        out.append(prev)
        now = prev.astimezone(UTC) + timedelta(seconds=1)
    return out


def test_the_default_inspection_is_0200_local_on_the_first_through_both_changes() -> None:
    cron = contract_cron("0 2 1 * *", "Europe/Berlin", "k")
    times = fire_times(cron, datetime(2026, 1, 15, tzinfo=UTC), 12)
    assert [(t.month, t.day, t.hour, t.minute) for t in times] == [(m, 1, 2, 0) for m in range(2, 13)] + [
        (1, 1, 2, 0)]
    utc = [t.astimezone(UTC) for t in times]
    # Winter time (UTC+1) until March, summer time (UTC+2) April to October.
    assert utc[1] == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert utc[2] == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert utc[9] == datetime(2026, 11, 1, 1, 0, tzinfo=UTC)


def test_a_time_zone_without_daylight_saving_is_a_fixed_offset() -> None:
    t = fire_times(contract_cron("0 2 1 * *", "Asia/Shanghai", "k"), datetime(2026, 3, 15, tzinfo=UTC), 1)[0]
    assert t.astimezone(UTC) == datetime(2026, 3, 31, 18, 0, tzinfo=UTC)


def test_a_local_time_skipped_by_spring_forward_runs_once_an_hour_later() -> None:
    ny = ZoneInfo("America/New_York")
    cron = contract_cron("30 2 * * *", "America/New_York", "k")
    times = fire_times(cron, datetime(2026, 3, 7, 12, tzinfo=UTC), 3)
    utc = [t.astimezone(UTC) for t in times]
    # 8 March 2026: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist; it runs at 03:30 EDT.
    assert utc == [datetime(2026, 3, 8, 7, 30, tzinfo=UTC), datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
                   datetime(2026, 3, 10, 6, 30, tzinfo=UTC)]
    assert utc[0].astimezone(ny).hour == 3


def test_a_local_time_repeated_by_fall_back_runs_once() -> None:
    cron = contract_cron("30 1 * * *", "America/New_York", "k")
    times = fire_times(cron, datetime(2026, 10, 31, 12, tzinfo=UTC), 3)
    utc = [t.astimezone(UTC) for t in times]
    # 1 November 2026 has 01:30 twice (EDT, then EST); only the first runs.
    assert utc == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
                   datetime(2026, 11, 3, 6, 30, tzinfo=UTC)]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["America/New_York", "Europe/London", "Australia/Sydney", "America/Santiago",
                     "Asia/Kolkata"]),
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=0, max_value=59),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
)
def test_a_daily_cron_fires_once_a_local_day_at_its_local_time(tz: str, hour: int, minute: int,
                                                             start: datetime) -> None:
    zone = ZoneInfo(tz)
    times = fire_times(contract_cron(f"{minute} {hour} * * *", tz, "k"), start.replace(tzinfo=UTC), 5)
    days = [t.astimezone(zone).date() for t in times]
    assert len(set(days)) == len(days), "never twice on one local day"
    assert all(b > a for a, b in itertools.pairwise(times))
    for t in times:
        local = t.astimezone(zone)
        # At the asked time, or (when that time does not exist that day) within the hour after it.
        asked = datetime.combine(local.date(), datetime.min.time()).replace(hour=hour, minute=minute)
        delta = (local.replace(tzinfo=None) - asked).total_seconds()
        assert delta in (0, 1800, 3600), (t, local)


def test_jobs_from_the_configuration() -> None:
    everything = ["heartbeat-sweep", "sla-sweep", "rollups", "retention"]
    config = build_config({"schedule": {"housekeeping": everything},
                           "customers": [
        {"name": "acme", "timezone": "Asia/Shanghai",
         "contract": {"starts": "2026-01-10", "renewal_reminders_days": [30, 7],
                      "inspection_cron": "0 3 2 * *"}},
        {"name": "beta", "timezone": "America/New_York"},
    ]})
    now = datetime(2026, 6, 1, tzinfo=UTC)
    specs = {s.id: s for s in desired_jobs(config, now)}
    assert {"heartbeat-sweep", "sla-sweep", "rollups", "retention", "inspection:acme", "service-report:acme",
            "inspection:beta", "service-report:beta"} <= set(specs)
    # Warranty ends 2027-01-10 and support 2028-01-10: reminders 30 and 7 days before, 09:00 local.
    reminder = specs["reminder:acme:warranty:30d"]
    when = reminder.trigger.get_next_fire_time(None, now)
    assert when.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None) == datetime(2026, 12, 11, 9, 0)
    assert reminder.args == ("acme", "warranty", 30)
    assert "reminder:acme:support:7d" in specs
    assert not any(k.startswith("reminder:beta") for k in specs), "no end dates, no reminders"
    first = specs["inspection:acme"].trigger.get_next_fire_time(None, now)
    assert first.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None) == datetime(2026, 6, 2, 3, 0)
    # Monthly jobs may run days late; housekeeping only within one interval.
    assert specs["inspection:acme"].misfire_grace_time == 7 * 86400
    assert specs["heartbeat-sweep"].misfire_grace_time == 30
    assert date(2027, 1, 10) == config.customers[0].contract.warranty_end


def test_a_bad_cron_names_its_key() -> None:
    config = build_config({"customers": [{"name": "acme", "contract": {"report_cron": "0 25 * * *"}}]})
    with pytest.raises(ConfigError, match=r"customers\.0\.contract\.report_cron"):
        desired_jobs(config, datetime(2026, 6, 1, tzinfo=UTC))
