"""Maintenance windows: while one is open, alerts on the hosts it covers open no ticket.

A window covers one customer (all its hosts), some hosts, or the hosts whose labels
match; it is either one-off (``starts``..``ends``) or recurring weekly on some days at a
wall-clock time in the customer's time zone for a duration. Ended early, it stays ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo


@dataclass(frozen=True)
class Recurrence:
    days: frozenset[int]  # 0 = Monday
    at: time
    duration: float  # seconds
    tz: tzinfo = UTC


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    customer: str | None = None
    hosts: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    starts: datetime | None = None
    ends: datetime | None = None  # one-off end, or when a recurring window stops recurring
    recurrence: Recurrence | None = None
    ended_at: datetime | None = None  # ended early by hand
    reason: str = ""

    def covers(self, customer: str | None, host: str | None, labels: Mapping[str, str]) -> bool:
        """Whether an alert with this customer, host and labels is inside the window's scope."""
        if self.customer is not None and customer != self.customer:
            return False
        if self.hosts and host not in self.hosts:
            return False
        return all(labels.get(k) == v for k, v in self.labels.items())

    def occurrence(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The open stretch containing ``now``, or None when the window is not open then."""
        if self.ended_at is not None and now >= self.ended_at:
            return None
        if self.recurrence is None:
            if self.starts is None or self.ends is None:
                return None
            return (self.starts, self.ends) if self.starts <= now < self.ends else None
        if self.starts is not None and now < self.starts:
            return None
        if self.ends is not None and now >= self.ends:
            return None
        r = self.recurrence
        local = now.astimezone(r.tz)
        span = timedelta(seconds=r.duration)
        # An occurrence that began up to ``duration`` ago may still be open: look back enough days.
        for back in range(int(r.duration // 86400) + 2):
            day = local.date() - timedelta(days=back)
            if day.weekday() not in r.days:
                continue
            begin = datetime.combine(day, r.at).replace(tzinfo=r.tz).astimezone(UTC)
            end = begin + span
            if self.ended_at is not None:
                end = min(end, self.ended_at)
            if begin <= now < end:
                return begin, end
        return None

    def is_open(self, now: datetime) -> bool:
        return self.occurrence(now) is not None

    def is_finished(self, now: datetime) -> bool:
        """Whether the window will never open again."""
        if self.ended_at is not None and now >= self.ended_at:
            return True
        if self.recurrence is None:
            return self.ends is not None and now >= self.ends
        return self.ends is not None and now >= self.ends


def suppressing(
    windows: Sequence[MaintenanceWindow],
    customer: str | None,
    host: str | None,
    labels: Mapping[str, str],
    now: datetime,
) -> MaintenanceWindow | None:
    """The first open window that covers the alert, or None."""
    for w in windows:
        if w.covers(customer, host, labels) and w.is_open(now):
            return w
    return None
