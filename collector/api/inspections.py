"""``/api/v1/inspections`` and ``/api/v1/hosts/{id}/record``: inspections, their reports, health records.

A scoped token sees its own customer's inspections and hosts only; anything else is the
same 404 as an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from collector.api.auth import Principal, ensure_visible, principal, require
from collector.reports.render import MEDIA_TYPES
from collector.services.health_record import record_model

router = APIRouter(tags=["inspections"])


class InspectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str
    host: str | None = None


def _svc(request: Request) -> Any:
    return request.app.state.ctx.area("inspections")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "report": {fmt: f"/api/v1/inspections/{record['id']}/report?format={fmt}"
                                 for fmt in ("html", "md", "json")}}


@router.get("/api/v1/inspections")
def list_inspections(request: Request, customer: str | None = None, host: str | None = None,
                     limit: int = 100, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
    """Inspections newest first (without their findings); filter by customer or host."""
    rows = _svc(request).list(customers=who.scope(), customer=customer, host=host,
                              limit=max(1, min(limit, 500)))
    return [_public(r) for r in rows]


@router.post("/api/v1/inspections", status_code=201)
def run_inspection(body: InspectionRequest, request: Request,
                   who: Principal = Depends(require("engineer"))) -> dict[str, Any]:
    """Inspect a customer (or one of its hosts) now; answers when the inspection is complete."""
    ensure_visible(who, body.customer, "customer", body.customer)
    return _public(_svc(request).run(body.customer, host=body.host, trigger="manual"))


@router.get("/api/v1/inspections/{ident}")
def show_inspection(ident: int, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """One inspection with its findings, most severe first."""
    return _public(_svc(request).get(ident, who.scope()))


@router.get("/api/v1/inspections/{ident}/report")
def inspection_report(ident: int, request: Request, format: str = "html",
                      who: Principal = Depends(principal)) -> Response:
    """The stored inspection report: html (self-contained), md or json."""
    body = _svc(request).report(ident, format, who.scope())
    headers = {"Content-Disposition": f'inline; filename="inspection-{ident}.{format}"'}
    return Response(body, media_type=MEDIA_TYPES[format], headers=headers)


@router.get("/api/v1/hosts/{ident}/record")
def host_record(ident: str, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """The host's health record: facts, contract, tickets, alerts, runs, inspections and trends."""
    ctx = request.app.state.ctx
    return record_model(ctx, ident, who.scope(), ctx.clock.now())
