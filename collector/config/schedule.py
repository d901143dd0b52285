"""The scheduler section: how often the housekeeping jobs run, and how inspections judge.

Each customer's inspection and service-report times are in its contract
(``inspection_cron``, ``report_cron``, in the customer's time zone); warranty and
support reminders use the contract's ``renewal_reminders_days``. This section holds
what is the same for every customer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from collector.config.types import Duration, Section

SeverityName = Literal["info", "warning", "major", "critical"]


class InspectionSettings(Section):
    """What an inspection runs and the thresholds its findings are judged by."""

    playbooks: tuple[str, ...] = ("monthly-inspection",)
    # Findings at or above this severity open a ticket (source: inspection).
    ticket_severity: SeverityName = "major"
    # How far back "the month" of a manually started inspection reaches.
    lookback: Duration = 30 * 86400.0
    availability_warning: float = Field(default=0.999, gt=0, le=1)
    availability_major: float = Field(default=0.99, gt=0, le=1)
    reboots_warning: int = Field(default=2, ge=1)
    cpu_warning: float = Field(default=0.80, gt=0, le=1)
    cpu_major: float = Field(default=0.95, gt=0, le=1)
    memory_warning: float = Field(default=0.85, gt=0, le=1)
    memory_major: float = Field(default=0.95, gt=0, le=1)
    load_per_cpu_warning: float = Field(default=1.5, gt=0)
    disk_used_warning: float = Field(default=0.85, gt=0, le=1)
    disk_used_major: float = Field(default=0.95, gt=0, le=1)
    fill_horizon_days: float = Field(default=30.0, gt=0)
    fill_critical_days: float = Field(default=7.0, ge=0)
    # The agent release hosts should run; unset means the newest version among the customer's hosts.
    latest_agent_version: str | None = None


HousekeepingJob = Literal["heartbeat-sweep", "sla-sweep", "rollups", "retention"]


class ScheduleConfig(Section):
    enabled: bool = True
    # Housekeeping the scheduler leader runs as jobs, so that with several collectors on one
    # PostgreSQL the SLA sweep, rollups and retention run once, not in every process. An area
    # whose job is listed here does not run its own loop. The heartbeat sweep stays a loop in
    # every collector by default: each process owns the recent window of the hosts that report
    # to it (DESIGN.md, Scale), and only that process can write their `up` series.
    housekeeping: tuple[HousekeepingJob, ...] = ("sla-sweep", "rollups", "retention")
    heartbeat_interval: Duration = 30.0
    rollup_interval: Duration = 300.0
    retention_interval: Duration = 3600.0
    # How late a monthly job may still start after the collector was down (then it runs once).
    monthly_grace: Duration = 7 * 86400.0
    reminder_grace: Duration = 3 * 86400.0
    # Local time of day of warranty and support reminders, in the customer's time zone.
    reminder_time: str = "09:00"
    # The PostgreSQL advisory lock key the scheduler leader holds (one per database).
    leader_lock_key: int = 0x75706B656570
    # How often a follower tries to take the lead, and the longest the leader sleeps.
    leader_retry: Duration = 5.0
    max_idle: Duration = 30.0
    workers: int = Field(default=4, ge=1, le=64)
    inspection: InspectionSettings = InspectionSettings()

    def schedules(self, job: HousekeepingJob) -> bool:
        """True when the scheduler runs ``job``, so the area's own loop stays off."""
        return self.enabled and job in self.housekeeping

    @field_validator("reminder_time")
    @classmethod
    def _clock(cls, v: str) -> str:
        parts = v.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
            raise ValueError(f"{v!r} is not a time of day like 09:00")
        return v
