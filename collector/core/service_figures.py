"""Service figures from ticket histories: SLA compliance, MTTA, MTTR, satisfaction, visits.

Every figure is computed from a ticket's events alone (who did what, when), so a monthly
report can be recomputed at any time and agrees with the tickets' own history. The
module is pure: ticket records and the period in, figures out; business time comes from
a function the caller passes (the customer's service window), wall time by default.

The rules, so that a manager can check a figure by hand:

- A ticket belongs to the period it was *opened* in for the counts by priority, category
  and source, and for SLA compliance. A deadline counts as met or breached once it is
  decided: met when the first response (or the final resolution) came at or before it,
  breached when it came later or has not come by the end of the period although the
  deadline has passed. Deadlines still running at the end of the period are left out.
- MTTA is the mean business time from opening to the first response, over the period's
  tickets that have one. MTTR is the mean business time from opening to the final
  resolution, over tickets whose final resolution falls in the period.
- Satisfaction counts ratings given in the period (1..5) with their comments.
- An engineer is credited with a ticket they resolved in the period (the ticket's engineer
  at the time of the resolution); their SLA compliance counts the resolution deadlines
  of those tickets and their satisfaction the ratings of those tickets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The event kinds this module reads; the store's own vocabulary is mapped onto these.
OPENED = "opened"
RESPONDED = "responded"
ASSIGNED = "assigned"
RESOLVED = "resolved"
REOPENED = "reopened"
VISIT = "visit"
RATED = "rated"
BREACHED = "breached"

BusinessTime = Callable[["TicketRecord", datetime, datetime], float]


def wall_time(_ticket: TicketRecord, start: datetime, end: datetime) -> float:
    """Seconds between two instants, ignoring service windows (a 7x24 contract)."""
    return max(0.0, (end - start).total_seconds())


@dataclass(frozen=True)
class TicketEvent:
    at: datetime
    kind: str
    who: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketRecord:
    """A ticket and its history, as the figures need them."""

    id: str
    customer: str
    opened_at: datetime
    priority: str = "normal"
    category: str = "other"
    source: str = "manual"
    host: str | None = None
    title: str = ""
    engineer: str | None = None
    response_due: datetime | None = None
    resolution_due: datetime | None = None
    events: tuple[TicketEvent, ...] = ()

    def first(self, kind: str) -> TicketEvent | None:
        return next((e for e in sorted(self.events, key=lambda e: e.at) if e.kind == kind), None)

    def final_resolution(self) -> TicketEvent | None:
        """The last resolution, if no reopening followed it (else the ticket is open again)."""
        last: TicketEvent | None = None
        for e in sorted(self.events, key=lambda e: e.at):
            if e.kind == RESOLVED:
                last = e
            elif e.kind == REOPENED:
                last = None
        return last

    def engineer_at(self, when: datetime) -> str | None:
        who = self.engineer if not any(e.kind == ASSIGNED for e in self.events) else None
        for e in sorted(self.events, key=lambda e: e.at):
            if e.at > when:
                break
            if e.kind == ASSIGNED:
                who = e.data.get("engineer") or e.who or who
        return who or self.engineer


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end)."""

    start: datetime
    end: datetime

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True)
class Breach:
    ticket: str
    kind: str
    due: datetime
    at: datetime | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket,
            "kind": self.kind,
            "due": self.due.isoformat(),
            "at": self.at.isoformat() if self.at else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Compliance:
    met: int
    breached: int

    @property
    def percent(self) -> float | None:
        total = self.met + self.breached
        return round(100.0 * self.met / total, 1) if total else None

    def to_dict(self) -> dict[str, Any]:
        return {"met": self.met, "breached": self.breached, "percent": self.percent}


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _deadline(
    t: TicketRecord, kind: str, due: datetime | None, done: TicketEvent | None, period: Period
) -> tuple[bool | None, Breach | None]:
    """(met?, breach) for one deadline; met is None while the deadline is undecided."""
    if due is None:
        return None, None
    if done is not None and done.at < period.end:
        if done.at <= due:
            return True, None
        late = (done.at - due).total_seconds()
        reason = _reason(t, kind) or f"{kind} {_duration(late)} late"
        return False, Breach(t.id, kind, due, done.at, reason)
    if due < period.end:
        reason = _reason(t, kind) or f"no {kind} by the end of the period"
        return False, Breach(t.id, kind, due, None, reason)
    return None, None


def _reason(t: TicketRecord, kind: str) -> str:
    """The reason an engineer recorded for a breach of this deadline, if any."""
    for e in t.events:
        if e.kind == BREACHED and e.data.get("kind", kind) == kind and e.data.get("reason"):
            return str(e.data["reason"])
    return ""


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class Figures:
    """The service figures of a set of tickets over a period."""

    tickets: int
    by_priority: dict[str, int]
    by_category: dict[str, int]
    by_source: dict[str, int]
    response: Compliance
    resolution: Compliance
    mtta_seconds: float | None
    mttr_seconds: float | None
    breaches: tuple[Breach, ...]
    ratings: tuple[int, ...]
    comments: tuple[dict[str, Any], ...]
    visits: tuple[dict[str, Any], ...]
    resolved: int

    @property
    def satisfaction_average(self) -> float | None:
        return round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None

    @property
    def satisfaction_distribution(self) -> dict[str, int]:
        counts = Counter(self.ratings)
        return {str(r): counts.get(r, 0) for r in range(1, 6)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "resolved": self.resolved,
            "by_priority": dict(self.by_priority),
            "by_category": dict(self.by_category),
            "by_source": dict(self.by_source),
            "response": self.response.to_dict(),
            "resolution": self.resolution.to_dict(),
            "mtta_seconds": self.mtta_seconds,
            "mttr_seconds": self.mttr_seconds,
            "breaches": [b.to_dict() for b in self.breaches],
            "satisfaction": {
                "average": self.satisfaction_average,
                "count": len(self.ratings),
                "distribution": self.satisfaction_distribution,
                "comments": list(self.comments),
            },
            "visits": list(self.visits),
        }


def service_figures(
    tickets: Iterable[TicketRecord], period: Period, business_time: BusinessTime = wall_time
) -> Figures:
    """The figures of ``tickets`` for ``period`` by the rules in the module docstring."""
    all_tickets = list(tickets)
    opened = [t for t in all_tickets if t.opened_at in period]
    response_met = response_breached = resolution_met = resolution_breached = 0
    breaches: list[Breach] = []
    ack_times: list[float] = []
    for t in opened:
        first = t.first(RESPONDED)
        met, breach = _deadline(t, "response", t.response_due, first, period)
        response_met += met is True
        response_breached += met is False
        met, breach2 = _deadline(t, "resolution", t.resolution_due, t.final_resolution(), period)
        resolution_met += met is True
        resolution_breached += met is False
        breaches.extend(b for b in (breach, breach2) if b)
        if first is not None and first.at < period.end:
            ack_times.append(business_time(t, t.opened_at, first.at))
    repair_times: list[float] = []
    resolved = 0
    for t in all_tickets:
        done = t.final_resolution()
        if done is not None and done.at in period:
            resolved += 1
            repair_times.append(business_time(t, t.opened_at, done.at))
    ratings: list[int] = []
    comments: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    for t in all_tickets:
        for e in t.events:
            if e.at not in period:
                continue
            if e.kind == RATED and e.data.get("rating") is not None:
                ratings.append(int(e.data["rating"]))
                if e.data.get("comment"):
                    comments.append({"ticket": t.id, "rating": int(e.data["rating"]),
                                     "comment": str(e.data["comment"])})
            elif e.kind == VISIT:
                visits.append({"ticket": t.id, "at": e.at.isoformat(), "engineer": e.who,
                               "host": t.host, "note": str(e.data.get("note", ""))})
    breaches.sort(key=lambda b: (b.due, b.ticket, b.kind))
    return Figures(
        tickets=len(opened),
        by_priority=dict(sorted(Counter(t.priority for t in opened).items())),
        by_category=dict(sorted(Counter(t.category for t in opened).items())),
        by_source=dict(sorted(Counter(t.source for t in opened).items())),
        response=Compliance(response_met, response_breached),
        resolution=Compliance(resolution_met, resolution_breached),
        mtta_seconds=_mean(ack_times),
        mttr_seconds=_mean(repair_times),
        breaches=tuple(breaches),
        ratings=tuple(ratings),
        comments=tuple(comments),
        visits=tuple(visits),
        resolved=resolved,
    )


@dataclass(frozen=True)
class EngineerFigures:
    engineer: str
    tickets_handled: int
    resolution: Compliance
    mttr_seconds: float | None
    satisfaction_average: float | None
    ratings: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "engineer": self.engineer,
            "tickets_handled": self.tickets_handled,
            "sla": self.resolution.to_dict(),
            "mttr_seconds": self.mttr_seconds,
            "satisfaction_average": self.satisfaction_average,
            "ratings": self.ratings,
        }


def engineer_figures(
    tickets: Iterable[TicketRecord],
    period: Period,
    business_time: BusinessTime = wall_time,
    engineers: Iterable[str] = (),
) -> list[EngineerFigures]:
    """Per engineer: tickets resolved in the period, their SLA compliance, MTTR and ratings.

    ``engineers`` lists people to show even when they handled nothing this period.
    """
    handled: dict[str, list[TicketRecord]] = {name: [] for name in engineers}
    for t in tickets:
        done = t.final_resolution()
        if done is None or done.at not in period:
            continue
        who = t.engineer_at(done.at) or done.who or "unassigned"
        handled.setdefault(who, []).append(t)
    out: list[EngineerFigures] = []
    for who, mine in sorted(handled.items()):
        met = breached = 0
        repair: list[float] = []
        ratings: list[int] = []
        for t in mine:
            done = t.final_resolution()
            assert done is not None
            repair.append(business_time(t, t.opened_at, done.at))
            if t.resolution_due is not None:
                met += done.at <= t.resolution_due
                breached += done.at > t.resolution_due
            ratings.extend(
                int(e.data["rating"]) for e in t.events
                if e.kind == RATED and e.data.get("rating") is not None and e.at in period
            )
        out.append(EngineerFigures(
            engineer=who,
            tickets_handled=len(mine),
            resolution=Compliance(met, breached),
            mttr_seconds=_mean(repair),
            satisfaction_average=round(sum(ratings) / len(ratings), 2) if ratings else None,
            ratings=len(ratings),
        ))
    return out
