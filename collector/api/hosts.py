"""``/api/v1/hosts``: the inventory, seen through the caller's customer scope."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from collector.api.auth import Principal, ensure_visible, principal, require
from collector.errors import NotFound
from collector.store import inventory

router = APIRouter(tags=["hosts"])


def visible_host(request: Request, who: Principal, ident: str) -> inventory.Host:
    """The host by id or name, or the same 404 whether it is missing or another customer's."""
    with request.app.state.ctx.engine.connect() as conn:
        host = inventory.get_host(conn, ident)
    if host is None:
        raise NotFound("host", ident)
    ensure_visible(who, host.customer, "host", ident)
    return host


@router.get("/api/v1/hosts")
def list_hosts(
    request: Request, customer: str | None = None, who: Principal = Depends(principal)
) -> list[dict[str, Any]]:
    """Hosts ordered by name; a scoped token sees only its customer's."""
    with request.app.state.ctx.engine.connect() as conn:
        if who.customer is not None:
            if customer not in (None, who.customer):
                return []
            customer = who.customer
        return [h.to_json() for h in inventory.list_hosts(conn, customer)]


@router.get("/api/v1/hosts/{ident}")
def show_host(ident: str, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    return visible_host(request, who, ident).to_json()


@router.post("/api/v1/hosts/{ident}/revoke")
def revoke_host(ident: str, request: Request, who: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """The host's token stops working on its next request; the host and its data stay."""
    ctx = request.app.state.ctx
    host = visible_host(request, who, ident)
    with ctx.engine.begin() as conn:
        inventory.revoke_host(conn, host.id, ctx.clock.now().timestamp())
        host = inventory.get_host(conn, host.id) or host
    return host.to_json()
