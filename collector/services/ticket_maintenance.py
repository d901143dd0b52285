"""Maintenance windows: stored, loaded as the pure core's objects, added, listed and ended.

When a window ends, ``release`` opens the ticket of every alert it suppressed that was
still firing, so a fault left behind by the maintenance is not lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from collector.config.contracts import WEEKDAYS
from collector.config.types import parse_duration
from collector.core.maintenance import MaintenanceWindow, Recurrence
from collector.errors import InvalidInput, NotFound
from collector.store import tickets as store

if TYPE_CHECKING:
    from collector.services.ticket_contracts import Contracts


def _window(m: RowMapping, contracts: Contracts) -> MaintenanceWindow:
    rec = None
    if m["recurrence"]:
        r = m["recurrence"]
        tz = ZoneInfo(
            r.get("timezone") or (contracts.customer(m["customer"]).timezone if m["customer"] else "UTC")
        )
        h, mi = (int(x) for x in r["at"].split(":"))
        rec = Recurrence(
            frozenset(WEEKDAYS.index(d) for d in r["days"]), time(h, mi), float(r["duration"]), tz
        )

    def when(x: float | None) -> datetime | None:
        return None if x is None else datetime.fromtimestamp(x, UTC)

    return MaintenanceWindow(
        id=int(m["id"]),
        customer=m["customer"],
        hosts=frozenset(m["hosts"] or ()),
        labels=dict(m["labels"] or {}),
        starts=when(m["starts"]),
        ends=when(m["ends"]),
        recurrence=rec,
        ended_at=when(m["ended_at"]),
        reason=m["reason"],
    )


def load_windows(
    conn: Connection, contracts: Contracts, now: datetime | None = None
) -> list[MaintenanceWindow]:
    """The windows, oldest first; given ``now``, only those that may still be open (not finished)."""
    t = store.maintenance_windows
    q = select(t).order_by(t.c.id)
    if now is not None:
        at = now.timestamp()
        q = q.where(or_(t.c.ended_at.is_(None), t.c.ended_at > at), or_(t.c.ends.is_(None), t.c.ends > at))
    return [_window(m, contracts) for m in conn.execute(q).mappings()]


def window_json(w: MaintenanceWindow, now: datetime) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    rec = w.recurrence
    return {
        "id": w.id,
        "customer": w.customer,
        "hosts": sorted(w.hosts),
        "labels": dict(w.labels),
        "starts": iso(w.starts),
        "ends": iso(w.ends),
        "recurrence": None
        if rec is None
        else {
            "days": [WEEKDAYS[d] for d in sorted(rec.days)],
            "at": rec.at.strftime("%H:%M"),
            "duration": rec.duration,
            "timezone": str(rec.tz),
        },
        "ended_at": iso(w.ended_at),
        "open": w.is_open(now),
        "finished": w.is_finished(now),
        "reason": w.reason,
    }


def _time(value: Any, field: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{value!r} is not an ISO 8601 time", field=field) from None
    if t.tzinfo is None:
        raise InvalidInput("give the time zone (e.g. 2026-11-26T02:00+08:00)", field=field)
    return t.timestamp()


def add_window(
    conn: Connection,
    *,
    customer: str | None = None,
    hosts: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    starts: Any = None,
    ends: Any = None,
    duration: Any = None,
    recurrence: Mapping[str, Any] | None = None,
    reason: str = "",
    actor: str,
    now: datetime,
) -> int:
    """Store a window; one-off needs an end (or duration), recurring needs days, at and duration."""
    if not customer and not hosts and not labels:
        raise InvalidInput("a maintenance window covers a customer, hosts or labels", field="customer")
    start = _time(starts, "starts") or now.timestamp()
    end = _time(ends, "ends")
    rec: dict[str, Any] | None = None
    if recurrence:
        days = [str(d).lower()[:3] for d in recurrence.get("days", ())]
        if not days or any(d not in WEEKDAYS for d in days):
            raise InvalidInput("days are weekday names (mon..sun)", field="recurrence.days")
        at = str(recurrence.get("at", ""))
        try:
            h, m = (int(x) for x in at.split(":"))
            time(h, m)
        except ValueError:
            raise InvalidInput(f"{at!r} is not a time of day like 02:00", field="recurrence.at") from None
        try:
            length = parse_duration(recurrence.get("duration"))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="recurrence.duration") from None
        if not 0 < length <= 7 * 86400:
            raise InvalidInput("the duration is between 1 second and 7 days", field="recurrence.duration")
        rec = {
            "days": days,
            "at": f"{h:02d}:{m:02d}",
            "duration": length,
            "timezone": recurrence.get("timezone"),
        }
        if rec["timezone"]:
            try:
                ZoneInfo(rec["timezone"])
            except Exception:
                raise InvalidInput(
                    f"unknown time zone {rec['timezone']!r}", field="recurrence.timezone"
                ) from None
    else:
        if end is None and duration is not None:
            try:
                end = start + parse_duration(duration)
            except ValueError as exc:
                raise InvalidInput(str(exc), field="duration") from None
        if end is None:
            raise InvalidInput("a one-off window needs an end or a duration", field="ends")
        if end <= start:
            raise InvalidInput("the end must be after the start", field="ends")
    result = conn.execute(
        store.maintenance_windows.insert().values(
            customer=customer or None,
            hosts=list(hosts),
            labels=dict(labels or {}),
            starts=start,
            ends=end,
            recurrence=rec,
            reason=reason,
            created_by=actor,
            created_at=now.timestamp(),
        )
    )
    return int(result.inserted_primary_key[0])


def end_window(conn: Connection, window_id: int, now: datetime, scope: Sequence[str] | None = None) -> None:
    t = store.maintenance_windows
    m = conn.execute(select(t).where(t.c.id == window_id)).mappings().first()
    if m is None or (scope is not None and m["customer"] not in scope):
        raise NotFound("maintenance window", window_id)
    if m["ended_at"] is None:
        conn.execute(update(t).where(t.c.id == window_id).values(ended_at=now.timestamp()))
