"""The jobs the configuration asks for, with their triggers in the right time zones.

Housekeeping runs on intervals; each customer's inspection and service report run on the
contract's crons in the customer's time zone (so "02:00 on the 1st" is 02:00 where the
customer is, across daylight-saving changes); warranty and support reminders run once,
at ``reminder_time`` local, the configured number of days before each end date.

Misfire grace is chosen per kind: a housekeeping job missed while the collector was down
is coalesced into one run now (its grace is one interval, so a backlog never piles up),
while a monthly job still runs when it is days late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from collector.config import CollectorConfig
from collector.config.contracts import CustomerConfig
from collector.errors import ConfigError

JOBS = "collector.scheduling.jobs"


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str
    trigger: BaseTrigger
    name: str
    misfire_grace_time: int
    args: tuple[Any, ...] = ()
    timezone: str = "UTC"
    customer: str | None = None


def trigger_fingerprint(trigger: BaseTrigger) -> str:
    """What makes two triggers the same schedule (an interval's start date does not)."""
    if isinstance(trigger, IntervalTrigger):
        return f"interval:{trigger.interval_length}"
    if isinstance(trigger, CronTrigger):
        fields = ",".join(f"{f.name}={f}" for f in trigger.fields if not f.is_default)
        return f"cron:{fields}:{trigger.timezone}"
    return repr(trigger)


class LocalCron(CronTrigger):
    """A cron in a local time zone that fires once when the clocks go back.

    APScheduler's CronTrigger fires at both instants of a repeated local time (01:30 daylight
    time and, an hour later, 01:30 standard time); a monthly inspection must run once, at the
    first. A local time skipped when the clocks go forward runs once, an hour later by the
    wall clock (APScheduler's own behaviour, kept).
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        while nxt is not None and _second_of_repeated(nxt):
            after = nxt.astimezone(UTC) + timedelta(seconds=1)
            nxt = super().get_next_fire_time(nxt, after)
        return nxt


def _second_of_repeated(when: datetime) -> bool:
    """True for the later of two instants sharing this local wall time."""
    return when.fold == 1 and when.replace(fold=0).utcoffset() != when.replace(fold=1).utcoffset()


def contract_cron(expr: str, tz: str, key: str) -> CronTrigger:
    """A five-field crontab expression in ``tz``; a bad one is a ConfigError naming ``key``."""
    try:
        return LocalCron.from_crontab(expr, timezone=ZoneInfo(tz))
    except ValueError as exc:
        raise ConfigError(key, f"{expr!r} is not a crontab expression ({exc})") from None


def _interval(seconds: float, now: datetime) -> IntervalTrigger:
    # The start date is given so the first run is one interval after the injected ``now``,
    # not after the machine's wall clock.
    return IntervalTrigger(seconds=max(1, round(seconds)), start_date=now + timedelta(seconds=seconds),
                           timezone=UTC)


def housekeeping_jobs(config: CollectorConfig, now: datetime) -> list[JobSpec]:
    s = config.schedule
    specs = [
        JobSpec("heartbeat-sweep", f"{JOBS}:heartbeat_sweep", _interval(s.heartbeat_interval, now),
                "Heartbeat sweep", max(1, round(s.heartbeat_interval))),
        JobSpec("sla-sweep", f"{JOBS}:sla_sweep", _interval(config.tickets.sweep_interval, now),
                "SLA sweep", max(1, round(config.tickets.sweep_interval))),
        JobSpec("rollups", f"{JOBS}:rollups", _interval(s.rollup_interval, now),
                "Rollups", max(1, round(s.rollup_interval))),
        JobSpec("retention", f"{JOBS}:retention", _interval(s.retention_interval, now),
                "Retention", max(1, round(s.retention_interval))),
    ]
    return [spec for spec in specs if spec.id in s.housekeeping]


def customer_jobs(
    config: CollectorConfig, customer: CustomerConfig, index: int, now: datetime
) -> list[JobSpec]:
    s = config.schedule
    c = customer.contract
    tz = customer.timezone
    key = f"customers.{index}.contract"
    grace = round(s.monthly_grace)
    out = [
        JobSpec(f"inspection:{customer.name}", f"{JOBS}:monthly_inspection",
                contract_cron(c.inspection_cron, tz, f"{key}.inspection_cron"),
                f"Monthly inspection of {customer.name}", grace, (customer.name,), tz, customer.name),
        JobSpec(f"service-report:{customer.name}", f"{JOBS}:monthly_service_report",
                contract_cron(c.report_cron, tz, f"{key}.report_cron"),
                f"Monthly service report of {customer.name}", grace, (customer.name,), tz, customer.name),
    ]
    hour, minute = (int(p) for p in s.reminder_time.split(":"))
    zone = ZoneInfo(tz)
    for what, end in (("warranty", c.warranty_end), ("support", c.support_end)):
        if end is None:
            continue
        for days in sorted(set(c.renewal_reminders_days), reverse=True):
            when = datetime.combine(end - timedelta(days=days), time(hour, minute), zone)
            # A reminder whose day has passed is not added afresh; one already in the job
            # store (missed while the collector was down) is kept and runs within its grace.
            if when <= now:
                continue
            out.append(JobSpec(
                f"reminder:{customer.name}:{what}:{days}d", f"{JOBS}:contract_reminder",
                DateTrigger(run_date=when), f"{what.capitalize()} of {customer.name} ends in {days} days",
                round(s.reminder_grace), (customer.name, what, days), tz, customer.name,
            ))
    return out


def desired_jobs(config: CollectorConfig, now: datetime) -> list[JobSpec]:
    """Every job the configuration asks for at ``now``."""
    specs = housekeeping_jobs(config, now)
    for i, customer in enumerate(config.customers):
        specs.extend(customer_jobs(config, customer, i, now))
    return specs


def is_ours(job_id: str) -> bool:
    """Job ids this module manages (anything else in the job store is left alone)."""
    return job_id in {"heartbeat-sweep", "sla-sweep", "rollups", "retention"} or job_id.startswith(
        ("inspection:", "service-report:", "reminder:"))


def reminder_kept(job_id: str, config: CollectorConfig) -> bool:
    """A stored reminder whose customer and end date still exist is kept after its day passed."""
    parts = job_id.split(":")
    if len(parts) != 4 or parts[0] != "reminder":
        return False
    customer = config.customer(parts[1])
    if customer is None:
        return False
    end = customer.contract.warranty_end if parts[2] == "warranty" else customer.contract.support_end
    return end is not None and int(parts[3].rstrip("d")) in customer.contract.renewal_reminders_days
