"""``/api/v1/reports``: monthly service reports, engineer figures, and the schedule.

Monthly reports are computed from the ticket history on request (so they are current)
and may be asked for in html, md or json; a scoped token gets only its own customer's.
Engineer figures compare engineers across customers, so they need an unscoped token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from collector.api.auth import Principal, ensure_visible, principal, require
from collector.errors import Forbidden, InvalidInput
from collector.reports.render import FORMATS, MEDIA_TYPES, render
from collector.services.service_reports import engineers_model, monthly_model
from collector.store import schedule as store

router = APIRouter(tags=["reports"])


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput("format must be html, md or json", field="format")
    return fmt


@router.get("/api/v1/reports")
def list_reports(request: Request, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
    """Reports stored by the scheduler and by inspections, newest first."""
    with request.app.state.ctx.engine.connect() as conn:
        return store.list_reports(conn, customers=who.scope())


@router.get("/api/v1/reports/monthly")
def monthly_report(request: Request, customer: str, month: str, format: str = "json",
                   who: Principal = Depends(principal)) -> Response:
    """A customer's service report for a month (YYYY-MM, in the customer's time zone)."""
    fmt = _format(format)
    ensure_visible(who, customer, "customer", customer)
    ctx = request.app.state.ctx
    model = monthly_model(ctx, customer, month, ctx.clock.now())
    return Response(render(model, fmt), media_type=MEDIA_TYPES[fmt])


@router.get("/api/v1/reports/engineers")
def engineer_report(request: Request, month: str, format: str = "json",
                    who: Principal = Depends(require("engineer"))) -> Response:
    """Per engineer for a month (UTC): tickets handled, SLA compliance, MTTR, satisfaction."""
    fmt = _format(format)
    if who.customer is not None:
        raise Forbidden("engineer figures span customers; a customer-scoped token cannot read them")
    ctx = request.app.state.ctx
    return Response(render(engineers_model(ctx, month, ctx.clock.now()), fmt), media_type=MEDIA_TYPES[fmt])


@router.get("/api/v1/schedule")
def schedule(request: Request, who: Principal = Depends(require("engineer"))) -> list[dict[str, Any]]:
    """Every scheduled job with its next run (UTC and the job's own time zone)."""
    from collector.scheduling.scheduler import local

    sched = request.app.state.ctx.area("scheduler")
    sched.start()
    out = []
    for job in sched.jobs():
        if who.customer is not None and job.customer != who.customer:
            continue
        nxt = local(job.next_run, job.timezone)
        out.append({"id": job.id, "name": job.name, "timezone": job.timezone, "trigger": job.trigger,
                    "next_run": job.next_run.isoformat() if job.next_run else None,
                    "next_run_local": nxt.isoformat() if nxt else None,
                    "misfire_grace_seconds": job.misfire_grace_time})
    return out
