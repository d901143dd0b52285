"""The SLA business-hours clock: time that counts only inside a customer's service window.

A ``ServiceWindow`` is either always open (7x24) or open on some weekdays between two
wall-clock times in one time zone, minus closed days (public holidays, extra closed
days) and plus extra working days. Everything here takes aware datetimes and returns
aware UTC datetimes; nothing reads a clock.

DST: business hours are wall-clock hours, so a 09:30-19:30 day is 10 hours of business
time on every day of the year, including the days the clocks change (the jumps happen
at night). A window that starts or ends inside a skipped hour is taken at the wall time
after the jump; inside a repeated hour, at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

Interval = tuple[datetime, datetime]

# The longest stretch searched for business time before a window is declared never open.
_HORIZON_DAYS = 3 * 366


def _no_days() -> frozenset[date]:
    return frozenset()


@dataclass(frozen=True)
class ServiceWindow:
    """When the SLA clock runs. ``start``/``end`` None means all day on the open days (7x24)."""

    tz: tzinfo = UTC
    days: frozenset[int] = frozenset(range(7))  # 0 = Monday
    start: time | None = None
    end: time | None = None
    closed: Container[date] = field(default_factory=_no_days)
    working: Container[date] = field(default_factory=_no_days)

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValueError("a service window names both start and end, or neither")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("a service window's end must be later than its start")

    @classmethod
    def always(cls) -> ServiceWindow:
        """7x24: every second counts."""
        return cls()

    @property
    def is_always_open(self) -> bool:
        return self.start is None and self.days == frozenset(range(7)) and not _has_any(self.closed)

    @property
    def day_seconds(self) -> float:
        """Business seconds in one open day (what "one business day" of a target means)."""
        if self.start is None or self.end is None:
            return 86400.0
        s, e = self.start, self.end
        return float((e.hour * 3600 + e.minute * 60 + e.second) - (s.hour * 3600 + s.minute * 60 + s.second))

    def is_open_day(self, d: date) -> bool:
        if d in self.working:
            return True
        return d.weekday() in self.days and d not in self.closed

    def _day_interval(self, d: date) -> Interval:
        if self.start is None or self.end is None:
            a = _wall(d, time(0), self.tz)
            b = _wall(d + timedelta(days=1), time(0), self.tz)
        else:
            a = _wall(d, self.start, self.tz)
            b = _wall(d, self.end, self.tz)
        return a, max(a, b)

    def open_intervals(self, begin: datetime, until: datetime | None = None) -> Iterator[Interval]:
        """The open stretches (UTC) from ``begin`` on, clipped to ``until``, in order and disjoint."""
        begin = _utc(begin)
        stop = _utc(until) if until is not None else None
        if self.is_always_open:
            yield begin, stop if stop is not None else datetime.max.replace(tzinfo=UTC)
            return
        d = begin.astimezone(self.tz).date() - timedelta(days=1)
        # Searching stops only after a long stretch with no open day, however far the walk goes.
        quiet = 0
        while True:
            if self.is_open_day(d):
                a, b = self._day_interval(d)
                if stop is not None and a >= stop:
                    return
                a, b = max(a, begin), b if stop is None else min(b, stop)
                if a < b:
                    quiet = 0
                    yield a, b
            if stop is not None and _wall(d, time(0), self.tz) > stop:
                return
            quiet += 1
            if quiet > _HORIZON_DAYS:
                break
            d += timedelta(days=1)
        if stop is None:
            raise ValueError("the service window is never open")

    def business_seconds(self, begin: datetime, until: datetime, pauses: Iterable[Interval] = ()) -> float:
        """Business time between two instants, minus the paused stretches (0 when ``until <= begin``)."""
        begin, until = _utc(begin), _utc(until)
        if until <= begin:
            return 0.0
        spans = _subtract(self.open_intervals(begin, until), _normalise(pauses))
        return sum((b - a).total_seconds() for a, b in spans)

    def add(self, begin: datetime, seconds: float, pauses: Iterable[Interval] = ()) -> datetime:
        """The instant at which ``seconds`` of business time have passed since ``begin``.

        Paused stretches do not count; an open-ended pause (end = None means "still paused")
        is given as an interval ending at ``datetime.max``, and then the deadline is far away.
        """
        begin = _utc(begin)
        left = float(seconds)
        if left <= 0.0:
            # No business time has to pass: ``begin`` itself, open or not. (Moving on to the next
            # opening would break adding in steps: a first step may end exactly at a closing time.)
            return begin
        spans = _subtract(self.open_intervals(begin), _normalise(pauses))
        for a, b in spans:
            length = (b - a).total_seconds()
            if left <= length:
                return a + timedelta(seconds=left)
            left -= length
        raise ValueError("the service window is never open")


def _has_any(c: Container[date]) -> bool:
    try:
        return len(c) > 0  # type: ignore[arg-type]
    except TypeError:
        return True


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("the SLA clock needs aware datetimes")
    return t.astimezone(UTC)


def _wall(d: date, t: time, tz: tzinfo) -> datetime:
    """A wall-clock time on a day in ``tz``, as UTC.

    fold=0 (PEP 495) reads a skipped time with the offset before the jump, which lands it
    after the jump, and a repeated time as its first occurrence: both what a person means.
    """
    return datetime.combine(d, t).replace(tzinfo=tz, fold=0).astimezone(UTC)


def _normalise(pauses: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted((_utc(a), _utc(b)) for a, b in pauses):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(spans: Iterable[Interval], pauses: list[Interval]) -> Iterator[Interval]:
    """``spans`` (ordered, disjoint) minus ``pauses`` (ordered, disjoint)."""
    i = 0
    for a, b in spans:
        while i < len(pauses) and pauses[i][1] <= a:
            i += 1
        j = i
        cur = a
        while j < len(pauses) and pauses[j][0] < b:
            pa, pb = pauses[j]
            if pa > cur:
                yield cur, pa
            cur = max(cur, pb)
            if cur >= b:
                break
            j += 1
        if cur < b:
            yield cur, b


FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Deadline:
    """One promise on one ticket: when it falls due and when it turns "at risk"."""

    kind: str  # response | resolution | onsite
    started: datetime
    due: datetime | None  # None while the clock is stopped with no end in sight
    at_risk: datetime | None


def deadline(
    window: ServiceWindow,
    kind: str,
    started: datetime,
    target_seconds: float,
    at_risk_share: float,
    pauses: Iterable[Interval] = (),
) -> Deadline:
    """The deadline of ``target_seconds`` business time from ``started``, and its at-risk point.

    A pause still running (ending at FOREVER) stops the clock: due and at_risk are None.
    """
    pauses = list(pauses)
    if any(b >= FOREVER for _, b in pauses):
        return Deadline(kind, started, None, None)
    due = window.add(started, target_seconds, pauses)
    risk = window.add(started, target_seconds * at_risk_share, pauses)
    return Deadline(kind, started, due, risk)
