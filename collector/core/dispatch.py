"""Dispatch: which engineer gets a new ticket.

Order of preference: engineers who serve the customer (or its region), then those with
the skills the ticket needs, then those on duty now with room for another ticket, then
the least loaded, then whoever was given a ticket longest ago (round robin). Nobody off
duty is chosen while someone is on duty; when nobody is, the on-call engineer gets it
and the team lead is told.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Shift:
    """Weekly hours; ``end <= start`` runs past midnight into the next day."""

    days: frozenset[int]
    start: time
    end: time

    def covers(self, local: datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        wd = local.weekday()
        if self.start < self.end:
            return wd in self.days and self.start <= t < self.end
        # Overnight: the evening part on a shift day, the morning part on the day after one.
        return (wd in self.days and t >= self.start) or ((wd - 1) % 7 in self.days and t < self.end)


def on_shift(shifts: Sequence[Shift], tz: tzinfo, now: datetime, *, empty_means: bool) -> bool:
    """Whether ``now`` falls in one of ``shifts`` (``empty_means`` when there are none)."""
    if not shifts:
        return empty_means
    local = now.astimezone(tz)
    return any(s.covers(local) for s in shifts)


@dataclass(frozen=True)
class Engineer:
    name: str
    role: str = "engineer"
    skills: frozenset[str] = frozenset()
    customers: frozenset[str] = frozenset()  # empty: any
    regions: frozenset[str] = frozenset()  # empty: any
    shifts: tuple[Shift, ...] = ()  # empty: always on duty
    on_call: tuple[Shift, ...] = ()
    tz: tzinfo = UTC
    max_concurrent: int = 5
    active: bool = True

    def serves(self, customer: str, region: str) -> bool:
        if self.customers and customer not in self.customers:
            return False
        return not (self.regions and region and region not in self.regions and not self.customers)

    def on_duty(self, now: datetime) -> bool:
        return on_shift(self.shifts, self.tz, now, empty_means=True)

    def is_on_call(self, now: datetime) -> bool:
        return on_shift(self.on_call, self.tz, now, empty_means=False)


@dataclass(frozen=True)
class Choice:
    engineer: str | None
    reason: str
    tell_lead: bool = False


def choose(
    engineers: Iterable[Engineer],
    *,
    customer: str,
    region: str = "",
    skills: Iterable[str] = (),
    load: dict[str, int],
    last_assigned: dict[str, datetime],
    now: datetime,
) -> Choice:
    """Pick the engineer for a new ticket (see the module's docstring for the order)."""
    needed = frozenset(s for s in skills if s)
    serving = [e for e in engineers if e.active and e.role != "manager" and e.serves(customer, region)]
    # Leads and experts take tickets only when no engineer serves the customer.
    pool = [e for e in serving if e.role == "engineer"] or serving
    if not pool:
        return Choice(None, "nobody serves this customer", tell_lead=True)
    skilled = [e for e in pool if needed <= e.skills] if needed else pool
    skill_note = "skills match" if needed and skilled else ("no one has the skills" if needed else "")
    if not skilled:
        skilled = pool
    on_duty = [e for e in skilled if e.on_duty(now)]
    with_room = [e for e in on_duty if load.get(e.name, 0) < e.max_concurrent]
    tell_lead = False
    if with_room:
        candidates, why = with_room, "on duty"
    elif on_duty:
        candidates, why = on_duty, "on duty, everyone at capacity"
        tell_lead = True
    else:
        on_call = [e for e in skilled if e.is_on_call(now)] or [e for e in pool if e.is_on_call(now)]
        if not on_call:
            return Choice(None, "nobody is on duty or on call", tell_lead=True)
        candidates, why, tell_lead = on_call, "nobody on duty: on call", True
    epoch = datetime.min.replace(tzinfo=UTC)
    best = min(
        candidates,
        key=lambda e: (load.get(e.name, 0), last_assigned.get(e.name, epoch), e.name),
    )
    reason = ", ".join(p for p in (skill_note, why, "least loaded") if p)
    return Choice(best.name, reason, tell_lead)


def next_change(shifts: Sequence[Shift], tz: tzinfo, now: datetime) -> datetime | None:
    """The next minute at which being on shift changes (for displays), within a week."""
    if not shifts:
        return None
    state = on_shift(shifts, tz, now, empty_means=True)
    t = now.replace(second=0, microsecond=0)
    for _ in range(7 * 24 * 60):
        t += timedelta(minutes=1)
        if on_shift(shifts, tz, t, empty_means=True) != state:
            return t
    return None
