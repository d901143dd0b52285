"""A host's health record: one place that tells the host's story.

Facts, the customer's contract with its warranty and support dates, open and past
tickets, alerts, playbook runs, inspections with the host's findings, and the last
month's trends. Read-only: it gathers what the other areas stored.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from collector.errors import NotFound
from collector.services import AppContext
from collector.services.inspection_evidence import gather
from collector.store import schedule as store
from collector.store.inventory import get_host

log = logging.getLogger("upkeep.inspections")

TREND_DAYS = 30


def _days_left(end: str | None, now: datetime) -> int | None:
    if end is None:
        return None
    from datetime import date

    return (date.fromisoformat(end) - now.date()).days


def _tickets(conn: Any, host: str) -> list[dict[str, Any]]:
    from collector.store.tickets import OPEN_STATES, list_tickets

    out = []
    for t in list_tickets(conn, host=host, limit=500):
        out.append({"number": t.number, "title": t.title, "state": t.state, "open": t.state in OPEN_STATES,
                    "priority": t.priority, "source": t.source, "category": t.category,
                    "assignee": t.assignee, "opened_at": t.opened_at, "resolved_at": t.resolved_at,
                    "rating": t.rating})
    return out


def _alerts(conn: Any, host: str) -> dict[str, list[dict[str, Any]]]:
    from collector.store.alerts import alert_changes, alerts_active

    active = [{"alertname": r.alertname, "state": r.state, "since": r.active_at,
               "severity": (r.labels or {}).get("severity", ""),
               "summary": (r.annotations or {}).get("summary", "")}
              for r in conn.execute(select(alerts_active).where(alerts_active.c.host == host))]
    history = [{"alertname": r.alertname, "state": r.state, "at": r.at,
                "severity": (r.labels or {}).get("severity", "")}
               for r in conn.execute(select(alert_changes).where(alert_changes.c.host == host)
                                     .order_by(alert_changes.c.id.desc()).limit(100))]
    return {"active": active, "history": history}


def _runs(ctx: AppContext, host: str) -> list[dict[str, Any]]:
    """Playbook runs touching the host, from the diagnosis area when it offers a listing."""
    diagnosis = ctx.areas.get("diagnosis")
    lister = getattr(diagnosis, "runs_for_host", None) or getattr(diagnosis, "list_runs", None)
    if lister is None:
        return []
    try:
        runs = lister(host=host)
    except TypeError:
        runs = lister(host)
    except Exception as exc:  # the record still tells the rest of the story
        log.warning("health record of %s: playbook runs unavailable: %s", host, exc)
        return []
    out = []
    for r in runs or []:
        out.append(r if isinstance(r, dict) else {
            k: getattr(r, k) for k in ("id", "playbook", "status", "trigger", "started_at", "finished_at")
            if hasattr(r, k)})
    return out


def record_model(
    ctx: AppContext, ident: str, customers: tuple[str, ...] | None, now: datetime
) -> dict[str, Any]:
    """The health record of the host ``ident`` (id or name); NotFound when missing or out of scope."""
    from collector.services.inspections import contract_json

    with ctx.engine.connect() as conn:
        host = get_host(conn, ident)
        if host is None or (customers is not None and host.customer not in customers):
            raise NotFound("host", ident)
        cust = ctx.config.customer(host.customer)
        contract = contract_json(cust.contract) if cust is not None else None
        tickets = _tickets(conn, host.name)
        alerts = _alerts(conn, host.name)
        inspections = []
        for i in store.list_inspections(conn, customers=(host.customer,), host=host.name, limit=24):
            inspections.append({
                "id": i["id"], "started_at": i["started_at"], "status": i["status"], "trigger": i["trigger"],
                "inspected": next(
                    (h.get("inspected") for h in i["hosts"] if h.get("host") == host.name), None),
                "findings": [{k: f[k] for k in ("key", "severity", "category", "title", "recommendation",
                                                 "ticket")}
                             for f in store.findings_of(conn, i["id"], host=host.name)],
            })
        facts = gather(conn, host, (now - timedelta(days=TREND_DAYS)).timestamp(), now.timestamp())
    if contract is not None:
        contract["warranty_days_left"] = _days_left(contract["warranty_end"], now)
        contract["support_days_left"] = _days_left(contract["support_end"], now)
    return {
        "host": host.to_json(),
        "customer": {"name": host.customer, "display_name": cust.display_name if cust else "",
                     "timezone": cust.timezone if cust else "UTC"},
        "contract": contract,
        "tickets": {"open": [t for t in tickets if t["open"]], "past": [t for t in tickets if not t["open"]]},
        "alerts": alerts,
        "playbook_runs": _runs(ctx, host.name),
        "inspections": inspections,
        "trends": {"days": TREND_DAYS, **facts.trends},
        "figures": {k: v for k, v in facts.summary.items() if k not in ("os",)},
        "generated_at": now.timestamp(),
    }
