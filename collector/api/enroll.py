"""``POST /api/v1/enroll`` (agents) and ``/api/v1/enrollment-tokens`` (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from collector.api.auth import Principal, require
from collector.config.types import parse_duration
from collector.errors import InvalidInput, NotFound
from collector.services.enrollment import create_enrollment_token, enroll
from collector.store import tokens

router = APIRouter(tags=["enrollment"])


class EnrollRequest(BaseModel):
    token: str = Field(max_length=200)
    agent_id: str = Field(max_length=64)
    facts: dict[str, Any] = Field(default_factory=dict)


class EnrollmentTokenRequest(BaseModel):
    customer: str = Field(max_length=64)
    expires: str | float = "24h"
    once: bool = False


@router.post("/api/v1/enroll", status_code=201)
def post_enroll(body: EnrollRequest, request: Request) -> JSONResponse:
    """Register a host: answers its host token (kept by the agent, mode 0600)."""
    ctx = request.app.state.ctx
    done = enroll(ctx, body.token, body.agent_id, body.facts, ctx.clock.now().timestamp())
    return JSONResponse(done.to_json(), status_code=201)


@router.post("/api/v1/enrollment-tokens", status_code=201)
def post_enrollment_token(
    body: EnrollmentTokenRequest, request: Request, who: Principal = Depends(require("admin"))
) -> JSONResponse:
    ctx = request.app.state.ctx
    if not who.can_see(body.customer):
        raise InvalidInput(f"unknown customer {body.customer!r}", field="customer")
    try:
        expires = parse_duration(body.expires)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="expires") from None
    tok, secret = create_enrollment_token(
        ctx, body.customer, expires_in=expires, once=body.once, now=ctx.clock.now().timestamp()
    )
    return JSONResponse({**tok.to_json(), "token": secret}, status_code=201)


@router.get("/api/v1/enrollment-tokens")
def list_enrollment_tokens(
    request: Request, who: Principal = Depends(require("admin"))
) -> list[dict[str, Any]]:
    with request.app.state.ctx.engine.connect() as conn:
        return [t.to_json() for t in tokens.list_enrollment_tokens(conn) if who.can_see(t.customer)]


@router.delete("/api/v1/enrollment-tokens/{token_id}")
def revoke_enrollment_token(
    token_id: str, request: Request, who: Principal = Depends(require("admin"))
) -> dict[str, str]:
    ctx = request.app.state.ctx
    with ctx.engine.begin() as conn:
        found = [
            t for t in tokens.list_enrollment_tokens(conn) if t.id == token_id and who.can_see(t.customer)
        ]
        if not found or not tokens.revoke_enrollment_token(conn, token_id, ctx.clock.now().timestamp()):
            raise NotFound("enrollment token", token_id)
    return {"revoked": token_id}
