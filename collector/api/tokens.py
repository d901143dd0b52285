"""``/api/v1/tokens``: engineers' API tokens (admins only). A secret is shown once, at creation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from collector.api.auth import Principal, require
from collector.errors import InvalidInput, NotFound
from collector.store import tokens

router = APIRouter(tags=["tokens"])


class TokenRequest(BaseModel):
    role: str = Field(pattern="^(admin|engineer|viewer)$")
    customer: str | None = Field(default=None, max_length=64)
    name: str = Field(default="", max_length=128)


@router.post("/api/v1/tokens", status_code=201)
def create_token(
    body: TokenRequest, request: Request, who: Principal = Depends(require("admin"))
) -> JSONResponse:
    ctx = request.app.state.ctx
    customer = body.customer if body.customer is not None else who.customer
    if not who.can_see(customer):
        raise InvalidInput(f"unknown customer {customer!r}", field="customer")
    if customer is not None and ctx.config.customer(customer) is None:
        raise InvalidInput(f"unknown customer {customer!r}", field="customer")
    with ctx.engine.begin() as conn:
        tok, secret = tokens.create_api_token(
            conn,
            role=body.role,
            customer=customer,
            name=body.name or body.role,
            now=ctx.clock.now().timestamp(),
        )
    return JSONResponse({**tok.to_json(), "token": secret}, status_code=201)


@router.get("/api/v1/tokens")
def list_tokens(request: Request, who: Principal = Depends(require("admin"))) -> list[dict[str, Any]]:
    with request.app.state.ctx.engine.connect() as conn:
        return [t.to_json() for t in tokens.list_api_tokens(conn) if who.can_see(t.customer)]


@router.delete("/api/v1/tokens/{token_id}")
def revoke_token(
    token_id: str, request: Request, who: Principal = Depends(require("admin"))
) -> dict[str, str]:
    ctx = request.app.state.ctx
    with ctx.engine.begin() as conn:
        mine = [t for t in tokens.list_api_tokens(conn) if t.id == token_id and who.can_see(t.customer)]
        if not mine or not tokens.revoke_api_token(conn, token_id, ctx.clock.now().timestamp()):
            raise NotFound("token", token_id)
    return {"revoked": token_id}
