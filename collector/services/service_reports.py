"""Monthly service reports and engineer figures: ticket histories in, report models out.

The tickets and their events come from the ticket area's store; each becomes a
``TicketRecord`` in the vocabulary of collector.core.service_figures (opened, assigned,
responded, resolved, reopened, visit, rated), with its response and resolution deadlines
as the ticket area computes them and business time measured in the customer's service
window. The figures themselves are computed by the pure module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

from collector.core.service_figures import (
    ASSIGNED,
    OPENED,
    RATED,
    REOPENED,
    RESOLVED,
    RESPONDED,
    VISIT,
    Period,
    TicketEvent,
    TicketRecord,
    engineer_figures,
    service_figures,
)
from collector.services import AppContext
from collector.services.inspection_evidence import availability
from collector.store import schedule as store
from collector.store.inventory import list_hosts

# The ticket area's event kinds (its commands) in the figures' vocabulary.
_KINDS = {"opened": OPENED, "assign": ASSIGNED, "take": ASSIGNED, "resolve": RESOLVED, "reopen": REOPENED,
          "survey": RATED, "arrive": VISIT}


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _records(ctx: AppContext, start: float, end: float,
             customer: str | None = None) -> tuple[list[TicketRecord], dict[str, Any]]:
    """Tickets that matter to [start, end): opened before its end and not closed before its start."""
    from collector.store import tickets as tstore

    t = tstore.tickets
    q = select(t).where(t.c.opened_at < end, t.c.state != "cancelled",
                        or_(t.c.closed_at.is_(None), t.c.closed_at >= start))
    if customer is not None:
        q = q.where(t.c.customer == customer)
    svc = ctx.areas.get("tickets")
    records: list[TicketRecord] = []
    rows: dict[str, Any] = {}
    with ctx.engine.connect() as conn:
        for m in conn.execute(q.order_by(t.c.id)).mappings():
            row = tstore._row(m)
            events = []
            for e in tstore.events_of(conn, row.id):
                kind = _KINDS.get(e["kind"])
                if kind is None:
                    continue
                data = dict(e["data"] or {})
                if kind == VISIT:
                    data.setdefault("note", data.get("text", ""))
                events.append(TicketEvent(_dt(e["at"]), kind, e["actor"], data))  # type: ignore[arg-type]
            if row.first_response_at is not None:
                events.append(TicketEvent(_dt(row.first_response_at), RESPONDED, row.assignee or ""))  # type: ignore[arg-type]
            # A ticket reopened by its alert firing again starts a new resolution cycle.
            if row.cycle_started_at > row.opened_at and not any(e.kind == REOPENED for e in events):
                events.append(TicketEvent(_dt(row.cycle_started_at), REOPENED, "system"))  # type: ignore[arg-type]
            deadlines = svc.deadlines(row) if svc is not None else {}
            response = deadlines.get("response")
            resolution = deadlines.get("resolution")
            records.append(TicketRecord(
                id=row.number, customer=row.customer, opened_at=_dt(row.opened_at),  # type: ignore[arg-type]
                priority=row.priority, category=row.category or "other", source=row.source, host=row.host,
                title=row.title, engineer=row.assignee,
                response_due=getattr(response, "due", None), resolution_due=getattr(resolution, "due", None),
                events=tuple(sorted(events, key=lambda e: e.at)),
            ))
            rows[row.number] = row
    return records, rows


def _business_time(ctx: AppContext, rows: dict[str, Any]) -> Any:
    svc = ctx.areas.get("tickets")

    def measure(ticket: TicketRecord, begin: datetime, until: datetime) -> float:
        if svc is None:
            return max(0.0, (until - begin).total_seconds())
        row = rows[ticket.id]
        return float(svc.contracts.window(ticket.customer).business_seconds(begin, until, svc.pauses(row)))

    return measure


def monthly_model(ctx: AppContext, customer: str, month: str, now: datetime) -> dict[str, Any]:
    """The monthly service report of ``customer`` for ``month`` (YYYY-MM, customer's time zone)."""
    from collector.services.inspections import contract_json, month_bounds

    svc = ctx.area("inspections")
    cust = svc.customer(customer)
    start, end = month_bounds(month, cust.timezone)
    records, rows = _records(ctx, start.timestamp(), end.timestamp(), customer)
    figures = service_figures(records, Period(start, end), _business_time(ctx, rows))
    with ctx.engine.connect() as conn:
        inspections = store.list_inspections(conn, customers=(customer,), since=start.timestamp(),
                                             until=end.timestamp())
        insp = []
        for i in reversed(inspections):
            found = store.findings_of(conn, i["id"])
            insp.append({
                "id": i["id"], "started_at": i["started_at"], "status": i["status"],
                "by_severity": i["summary"].get("by_severity", {"critical": 0, "major": 0, "warning": 0,
                                                                 "info": 0}),
                "findings": [{"severity": f["severity"], "title": f["title"], "host": f["host"]}
                             for f in found if f["severity"] in ("critical", "major")],
            })
        until = min(end, now).timestamp()
        avail = [{"host": h.name, "availability": availability(conn, h, start.timestamp(), until)}
                 for h in list_hosts(conn, customer) if h.status != "revoked"]
    return {
        "kind": "monthly",
        "customer": {"name": cust.name, "display_name": cust.display_name, "timezone": cust.timezone},
        "contract": contract_json(cust.contract),
        "period": {"label": month, "start": start.timestamp(), "end": end.timestamp()},
        "generated_at": now.timestamp(),
        "figures": figures.to_dict(),
        "inspections": insp,
        "availability": avail,
    }


def engineers_model(ctx: AppContext, month: str, now: datetime) -> dict[str, Any]:
    """Per engineer: tickets handled, SLA compliance, MTTR and satisfaction for ``month`` (UTC)."""
    from collector.services.inspections import month_bounds

    start, end = month_bounds(month, "UTC")
    records, rows = _records(ctx, start.timestamp(), end.timestamp())
    names = {e.name: e.display_name for e in ctx.config.engineers}
    figures = engineer_figures(records, Period(start, end), _business_time(ctx, rows), engineers=names)
    return {
        "kind": "engineers",
        "period": {"label": month, "start": start.timestamp(), "end": end.timestamp()},
        "generated_at": now.timestamp(),
        "engineers": [dict(f.to_dict(), display_name=names.get(f.engineer, "")) for f in figures],
    }
