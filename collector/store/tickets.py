"""Ticket tables and queries: tickets, their events, SLA marks, surveys, engineers,
maintenance windows, suppressed alerts and the notification outbox.

Promises to the other areas:

- Times are Unix seconds (float), UTC.
- ``tickets.open_key`` is ``"<host>|<fingerprint>"`` while a ticket from an alert or a
  finding is open or resolved (awaiting its survey) and NULL once closed or cancelled;
  its UNIQUE constraint is what guarantees one open ticket per host and alert, on
  SQLite and PostgreSQL alike (several NULLs are allowed by both), whatever the timing.
- ``sla_marks`` is UNIQUE on (ticket, kind, mark, cycle): a mark (at risk, breached,
  an escalation level) is inserted once, so it fires once, across restarts and processes.
- A ticket's number is ``<prefix>-<year>-<id:06d>``, so it is unique without a counter.

Every query takes a SQLAlchemy ``Connection`` so the caller decides the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from collector.store.metadata import metadata

_ID = BigInteger().with_variant(Integer(), "sqlite")

tickets = Table(
    "tickets",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=True, unique=True),
    Column("customer", String(64), nullable=False, index=True),
    Column("host", String(255), nullable=True),
    Column("source", String(16), nullable=False),
    Column("fingerprint", String(255), nullable=True),
    Column("alertname", String(255), nullable=True),
    Column("category", String(64), nullable=False, default=""),
    Column("title", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("priority", String(16), nullable=False),
    Column("severity", String(16), nullable=False, default=""),
    Column("state", String(20), nullable=False, index=True),
    Column("assignee", String(64), nullable=True, index=True),
    Column("contact", JSON, nullable=False, default=dict),
    Column("labels", JSON, nullable=False, default=dict),
    Column("annotations", JSON, nullable=False, default=dict),
    Column("skills", JSON, nullable=False, default=list),
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("cycle_started_at", Float, nullable=False),
    Column("first_response_at", Float, nullable=True),
    Column("resolved_at", Float, nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("waiting_since", Float, nullable=True),
    Column("pauses", JSON, nullable=False, default=list),
    Column("onsite_dispatched_at", Float, nullable=True),
    Column("onsite_arrived_at", Float, nullable=True),
    Column("flapping", Boolean, nullable=False, default=False),
    Column("flap_changes", JSON, nullable=False, default=list),
    Column("alert_state", String(16), nullable=True),
    Column("alert_changed_at", Float, nullable=True),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("rating", Integer, nullable=True),
    Column("report", JSON, nullable=True),
    Column("open_key", String(600), nullable=True, unique=True),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("ticket_id", _ID, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("data", JSON, nullable=False, default=dict),
)

sla_marks = Table(
    "sla_marks",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("ticket_id", _ID, ForeignKey("tickets.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("mark", String(64), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("customer", String(64), nullable=False),
    Column("due", Float, nullable=True),
    Column("elapsed", Float, nullable=True),
    UniqueConstraint("ticket_id", "kind", "mark", "cycle", name="uq_sla_marks_ticket_id"),
)

surveys = Table(
    "surveys",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("ticket_id", _ID, ForeignKey("tickets.id"), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("customer", String(64), nullable=False),
    Column("engineer", String(64), nullable=True),
    Column("rating", Integer, nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Column("via", String(16), nullable=False),
    Column("at", Float, nullable=False),
    UniqueConstraint("ticket_id", "cycle", name="uq_surveys_ticket_id"),
)

engineers = Table(
    "engineers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("spec", JSON, nullable=False, default=dict),
    Column("active", Boolean, nullable=False, default=True),
    Column("from_config", Boolean, nullable=False, default=False),
    Column("last_assigned_at", Float, nullable=True),
)

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("customer", String(64), nullable=True),
    Column("hosts", JSON, nullable=False, default=list),
    Column("labels", JSON, nullable=False, default=dict),
    Column("starts", Float, nullable=True),
    Column("ends", Float, nullable=True),
    Column("recurrence", JSON, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("created_by", String(128), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

suppressed_alerts = Table(
    "suppressed_alerts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("window_id", _ID, ForeignKey("maintenance_windows.id"), nullable=False),
    Column("open_key", String(600), nullable=False),
    Column("customer", String(64), nullable=False),
    Column("alert", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("first_at", Float, nullable=False),
    Column("last_at", Float, nullable=False),
    Column("released_at", Float, nullable=True),
    UniqueConstraint("window_id", "open_key", name="uq_suppressed_alerts_window_id"),
)

outbox = Table(
    "ticket_outbox",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),  # webhook | email | diagnosis
    Column("target", String(500), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_at", Float, nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", Float, nullable=True),
    Column("failed_at", Float, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
)

OPEN_STATES = ("new", "assigned", "in_progress", "waiting_customer")


@dataclass(frozen=True)
class TicketRow:
    """A ticket as stored; the service turns it into API output."""

    id: int
    number: str
    customer: str
    host: str | None
    source: str
    fingerprint: str | None
    alertname: str | None
    category: str
    title: str
    description: str
    priority: str
    severity: str
    state: str
    assignee: str | None
    opened_at: float
    updated_at: float
    cycle_started_at: float
    first_response_at: float | None
    resolved_at: float | None
    closed_at: float | None
    waiting_since: float | None
    onsite_dispatched_at: float | None
    onsite_arrived_at: float | None
    flapping: bool
    alert_state: str | None
    alert_changed_at: float | None
    reopen_count: int
    rating: int | None
    open_key: str | None
    contact: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    skills: list[str] = field(default_factory=list)
    pauses: list[list[float]] = field(default_factory=list)
    flap_changes: list[float] = field(default_factory=list)
    report: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


_FIELDS = tuple(TicketRow.__dataclass_fields__)


def _row(m: RowMapping) -> TicketRow:
    return TicketRow(**{k: m[k] for k in _FIELDS})


def insert_ticket(conn: Connection, values: dict[str, Any], prefix: str, year: int) -> TicketRow | None:
    """Insert a ticket and give it its number; None when its ``open_key`` is already taken.

    The insert runs in a SAVEPOINT so a lost race leaves the caller's transaction usable.
    """
    try:
        with conn.begin_nested():
            tid = conn.execute(insert(tickets).values(**values)).inserted_primary_key[0]
            conn.execute(
                update(tickets).where(tickets.c.id == tid).values(number=f"{prefix}-{year:04d}-{tid:06d}")
            )
    except IntegrityError:
        return None
    return get_ticket(conn, int(tid))


def claim_open_key(conn: Connection, ticket_id: int, key: str) -> bool:
    """Give a ticket the open key of its alert; False when another open ticket holds it."""
    try:
        with conn.begin_nested():
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(open_key=key))
    except IntegrityError:
        return False
    return True


def get_ticket(conn: Connection, ticket_id: int, *, for_update: bool = False) -> TicketRow | None:
    q = select(tickets).where(tickets.c.id == ticket_id)
    if for_update and conn.dialect.name != "sqlite":
        q = q.with_for_update()
    m = conn.execute(q).mappings().first()
    return _row(m) if m else None


def get_ticket_by_number(conn: Connection, number: str) -> TicketRow | None:
    m = conn.execute(select(tickets).where(tickets.c.number == number)).mappings().first()
    return _row(m) if m else None


def get_by_open_key(conn: Connection, key: str) -> TicketRow | None:
    m = conn.execute(select(tickets).where(tickets.c.open_key == key)).mappings().first()
    return _row(m) if m else None


def update_ticket(conn: Connection, ticket_id: int, **values: Any) -> None:
    conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))


def list_tickets(
    conn: Connection,
    *,
    customers: Sequence[str] | None = None,
    states: Sequence[str] | None = None,
    assignee: str | None = None,
    host: str | None = None,
    alertname: str | None = None,
    category: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[TicketRow]:
    """Tickets, newest first, filtered."""
    q = select(tickets)
    if customers is not None:
        q = q.where(tickets.c.customer.in_(list(customers)))
    if states:
        q = q.where(tickets.c.state.in_(list(states)))
    if assignee:
        q = q.where(tickets.c.assignee == assignee)
    if host:
        q = q.where(tickets.c.host == host)
    if alertname:
        q = q.where(tickets.c.alertname == alertname)
    if category:
        q = q.where(tickets.c.category == category)
    q = q.order_by(tickets.c.id.desc()).limit(limit).offset(offset)
    return [_row(m) for m in conn.execute(q).mappings()]


def add_event(
    conn: Connection, ticket_id: int, at: float, actor: str, kind: str, data: dict[str, Any]
) -> None:
    conn.execute(insert(ticket_events).values(ticket_id=ticket_id, at=at, actor=actor, kind=kind, data=data))


def events_of(conn: Connection, ticket_id: int) -> list[dict[str, Any]]:
    q = select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id)
    return [
        {"at": m["at"], "actor": m["actor"], "kind": m["kind"], "data": m["data"]}
        for m in conn.execute(q).mappings()
    ]


def add_mark(
    conn: Connection,
    ticket: TicketRow,
    kind: str,
    mark: str,
    cycle: int,
    at: float,
    due: float | None,
    *,
    elapsed: float | None = None,
) -> bool:
    """Insert an SLA mark; False when it was already there (so it never fires twice)."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(sla_marks).values(
                    ticket_id=ticket.id,
                    kind=kind,
                    mark=mark,
                    cycle=cycle,
                    at=at,
                    customer=ticket.customer,
                    due=due,
                    elapsed=elapsed,
                )
            )
    except IntegrityError:
        if elapsed is not None:
            # The sweep marked the breach first; the action that ends the wait brings the duration.
            c = sla_marks.c
            conn.execute(
                update(sla_marks)
                .where(
                    c.ticket_id == ticket.id,
                    c.kind == kind,
                    c.mark == mark,
                    c.cycle == cycle,
                    c.elapsed.is_(None),
                )
                .values(elapsed=elapsed)
            )
        return False
    return True


def marks_of(conn: Connection, ticket_id: int) -> list[dict[str, Any]]:
    q = select(sla_marks).where(sla_marks.c.ticket_id == ticket_id).order_by(sla_marks.c.id)
    return [
        {"kind": m["kind"], "mark": m["mark"], "cycle": m["cycle"], "at": m["at"], "due": m["due"]}
        for m in conn.execute(q).mappings()
    ]


def open_load(conn: Connection) -> dict[str, int]:
    """Open tickets per assignee."""
    q = (
        select(tickets.c.assignee, func.count())
        .where(tickets.c.state.in_(OPEN_STATES), tickets.c.assignee.is_not(None))
        .group_by(tickets.c.assignee)
    )
    return {str(a): int(n) for a, n in conn.execute(q)}


def enqueue(
    conn: Connection, channel: str, target: str, kind: str, payload: dict[str, Any], now: float
) -> None:
    conn.execute(
        insert(outbox).values(
            channel=channel, target=target, kind=kind, payload=payload, created_at=now, next_at=now
        )
    )


def due_deliveries(
    conn: Connection, now: float, channels: Iterable[str], limit: int = 50
) -> list[RowMapping]:
    q = (
        select(outbox)
        .where(
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            outbox.c.next_at <= now,
            outbox.c.channel.in_(list(channels)),
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return list(conn.execute(q).mappings())
