"""Alert tables and queries: the active alerts (restored on start) and the outbox of alert changes.

Promises:

- ``alerts_active`` holds every pending and firing alert with its timers (``active_at``,
  ``fired_at``, ``keep_firing_since``), so a restarted collector carries on where it stopped:
  a pending alert keeps its ``for`` clock, a firing one does not fire again.
- ``alert_changes`` records every change (firing, resolved) before it is handed to the ticket
  area; ``delivered_at`` is set once the ticket area took it. An undelivered change is retried
  on the next evaluation, so a change the evaluator emitted is never lost.
- Times are Unix seconds (float), UTC. A NaN value is stored as NULL.

Every query takes a SQLAlchemy ``Connection`` so the caller decides the transaction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Integer,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from collector.core.alerting.model import ActiveAlert, AlertChange, AlertState
from collector.store.metadata import metadata

_ID = BigInteger().with_variant(Integer(), "sqlite")

alerts_active = Table(
    "alerts_active",
    metadata,
    Column("rule", String(512), primary_key=True),
    Column("fingerprint", String(16), primary_key=True),
    Column("alertname", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("active_at", Float, nullable=False),
    Column("fired_at", Float, nullable=True),
    Column("keep_firing_since", Float, nullable=True),
    Column("value", Float, nullable=True),
    Column("host", String(255), nullable=True),
    Column("customer", String(64), nullable=True, index=True),
)

alert_changes = Table(
    "alert_changes",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("alertname", String(255), nullable=False),
    Column("fingerprint", String(16), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("value", Float, nullable=True),
    Column("active_at", Float, nullable=False),
    Column("fired_at", Float, nullable=True),
    Column("resolved_at", Float, nullable=True),
    Column("host", String(255), nullable=True),
    Column("customer", String(64), nullable=True, index=True),
    Column("delivered_at", Float, nullable=True, index=True),
)


def _num(v: float) -> float | None:
    return None if math.isnan(v) else v


def _ts(d: datetime | None) -> float | None:
    return None if d is None else d.timestamp()


def _dt(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def _row(a: ActiveAlert) -> dict[str, Any]:
    return {
        "rule": a.rule, "fingerprint": a.fingerprint, "alertname": a.alertname, "state": a.state.value,
        "labels": dict(a.labels), "annotations": dict(a.annotations), "active_at": a.active_at,
        "fired_at": a.fired_at, "keep_firing_since": a.keep_firing_since, "value": _num(a.value),
        "host": a.labels.get("host"), "customer": a.labels.get("customer"),
    }


def _alert(row: Any) -> ActiveAlert:
    return ActiveAlert(
        rule=row.rule, labels=dict(row.labels), annotations=dict(row.annotations),
        state=AlertState(row.state), active_at=row.active_at,
        value=math.nan if row.value is None else row.value, fired_at=row.fired_at,
        keep_firing_since=row.keep_firing_since, fingerprint=row.fingerprint,
    )


def save_active(
    conn: Connection, upserts: Iterable[ActiveAlert], removals: Iterable[tuple[str, str]]
) -> None:
    """Write changed alerts and forget removed ones (``(rule, fingerprint)`` pairs)."""
    rows = [_row(a) for a in upserts]
    keys = [(r["rule"], r["fingerprint"]) for r in rows] + list(removals)
    for rule, fp in keys:
        conn.execute(delete(alerts_active).where(
            and_(alerts_active.c.rule == rule, alerts_active.c.fingerprint == fp)))
    if rows:
        conn.execute(insert(alerts_active), rows)


def load_active(conn: Connection) -> list[ActiveAlert]:
    """Every persisted pending and firing alert."""
    return [_alert(r) for r in conn.execute(select(alerts_active))]


def list_active(
    conn: Connection, *, customers: Sequence[str] | None = None, state: str | None = None
) -> list[ActiveAlert]:
    """Persisted alerts, limited to ``customers`` when given (a scoped caller), newest first."""
    q = select(alerts_active)
    if customers is not None:
        q = q.where(alerts_active.c.customer.in_(list(customers)))
    if state is not None:
        q = q.where(alerts_active.c.state == state)
    q = q.order_by(alerts_active.c.active_at.desc(), alerts_active.c.fingerprint)
    return [_alert(r) for r in conn.execute(q)]


def record_changes(conn: Connection, changes: Sequence[AlertChange], at: float) -> list[int]:
    """Append changes to the outbox; their ids, in order."""
    ids: list[int] = []
    for c in changes:
        result = conn.execute(insert(alert_changes).values(
            at=at, alertname=c.alertname, fingerprint=c.fingerprint, state=c.state,
            labels=dict(c.labels), annotations=dict(c.annotations), value=_num(c.value),
            active_at=c.active_at.timestamp(), fired_at=_ts(c.fired_at), resolved_at=_ts(c.resolved_at),
            host=c.host, customer=c.customer,
        ))
        ids.append(int(result.inserted_primary_key[0]))
    return ids


def undelivered(conn: Connection, limit: int = 1000) -> list[tuple[int, AlertChange]]:
    """Changes not yet taken by the ticket area, oldest first."""
    q = (select(alert_changes).where(alert_changes.c.delivered_at.is_(None))
         .order_by(alert_changes.c.id).limit(limit))
    out = []
    for r in conn.execute(q):
        out.append((int(r.id), AlertChange(
            alertname=r.alertname, fingerprint=r.fingerprint, labels=dict(r.labels),
            annotations=dict(r.annotations), state=r.state, active_at=_dt(r.active_at) or _dt(0.0),
            fired_at=_dt(r.fired_at), resolved_at=_dt(r.resolved_at),
            value=math.nan if r.value is None else r.value,
        )))
    return out


def mark_delivered(conn: Connection, ids: Sequence[int], at: float) -> None:
    if ids:
        conn.execute(update(alert_changes).where(alert_changes.c.id.in_(list(ids))).values(delivered_at=at))


def history(conn: Connection, *, customers: Sequence[str] | None = None, limit: int = 100) -> list[Any]:
    """The latest recorded changes (rows), newest first."""
    q = select(alert_changes)
    if customers is not None:
        q = q.where(alert_changes.c.customer.in_(list(customers)))
    return list(conn.execute(q.order_by(alert_changes.c.id.desc()).limit(limit)))
