"""``POST /api/v1/reports``: the agents' reports (docs/report-format.md).

Answers 200 ``{"accepted": N, "duplicates": M}`` only after the reports are
committed; every refusal is a 4xx JSON body naming what is wrong (413 for a body
over the limit, refused by Content-Length before it is read; 429 with Retry-After
for a host far above its normal rate; 503 when the writer queue is full).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import APIRouter, Request, Response
from starlette.types import Receive, Scope, Send

from collector.api.auth import bearer_token
from collector.api.errors import (
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    error_body,
    error_parts,
)
from collector.errors import Forbidden, InvalidInput
from collector.services import AppContext
from collector.services.ingest import IngestService
from collector.services.ingest_parse import decompress, parse_body

log = logging.getLogger("upkeep.ingest")
router = APIRouter(tags=["ingest"])
REPORTS_PATH = "/api/v1/reports"
Header = Callable[[str], str | None]  # a request header by its lower-case name

_REASONS = (
    (Unauthorized, "unauthorized"),
    (Forbidden, "forbidden"),
    (PayloadTooLarge, "too_large"),
    (RateLimited, "rate_limited"),
    (Overloaded, "overloaded"),
    (InvalidInput, "invalid"),
)

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": 'One report, or {"reports": [...]} (a spool replay); optionally gzip-encoded.',
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "200": {"description": 'stored: {"accepted": N, "duplicates": M}'},
        "401": {"description": "no, unknown or revoked host token"},
        "413": {"description": "body over the limit"},
        "422": {"description": 'a field that does not validate: {"error", "field"}'},
        "429": {"description": "far above the host's normal rate (Retry-After)"},
    },
}


class ClientGone(Exception):
    """The agent hung up before its body was read whole: nothing to answer."""


async def _read_capped(header: Header, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    length = header("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidInput("Content-Length is not a number", field="Content-Length") from None
        if declared > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def ingest(ctx: AppContext, header: Header, chunks: AsyncIterator[bytes]) -> bytes:
    """One request's reports, stored: the JSON answer's body; collector.errors for a refusal."""
    started = time.perf_counter()
    svc: IngestService = ctx.area("ingest")
    limits = ctx.config.ingest
    try:
        caller = svc.authenticate(bearer_token(header("authorization")))
        now = ctx.clock.now().timestamp()
        svc.check_rate(caller.host, now)
        raw = await _read_capped(header, chunks, limits.max_body_bytes)
        data = decompress(raw, header("content-encoding") or "", limits.max_decompressed_bytes)
        reports = parse_body(data, now=now, limits=limits, max_age=ctx.config.retention.reports)
        svc.check_agent(caller.host, reports)
        stored = await svc.store(caller, reports, now)
    except Exception as exc:
        for kind, reason in _REASONS:
            if isinstance(exc, kind):
                svc.metrics.reject(reason)
                break
        else:
            svc.metrics.reject("unavailable")
        raise
    svc.metrics.latency.observe(time.perf_counter() - started)
    accepted = sum(stored)
    return orjson.dumps({"accepted": accepted, "duplicates": len(stored) - accepted})


@router.post(REPORTS_PATH, openapi_extra=_BODY_DOC)
async def post_reports(request: Request) -> Response:
    body = await ingest(request.app.state.ctx, request.headers.get, request.stream())
    return Response(body, media_type="application/json")


async def serve_reports(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """The same endpoint as a bare ASGI app, which the server puts in front of its routing: an
    agent's report is the one request a collector gets thousands of a second, and FastAPI's
    routing, middleware and request objects were a fifth of its cost. The answers are the
    same, errors included (collector.api.errors); an unexpected one is a logged 500."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    extra: dict[str, str] = {}
    try:
        body = await ingest(ctx, headers.get, chunks())
        status = 200
    except ClientGone:
        return
    except Exception as exc:
        parts = error_parts(exc)
        if parts is None:
            log.exception("ingest request failed")
            text = "internal error; send the report again (a repeat is never stored twice)"
            parts = (500, error_body(text), {})
        status, payload, extra = parts
        body = orjson.dumps(payload)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
