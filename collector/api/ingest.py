"""``POST /api/v1/reports``: the agents' reports (docs/report-format.md).

Answers 200 ``{"accepted": N, "duplicates": M}`` only after the reports are
committed; every refusal is a 4xx JSON body naming what is wrong (413 for a body
over the limit, refused by Content-Length before it is read; 429 with Retry-After
for a host far above its normal rate; 503 when the writer queue is full).
"""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request, Response

from collector.api.auth import bearer
from collector.api.errors import Overloaded, PayloadTooLarge, RateLimited, Unauthorized
from collector.errors import Forbidden, InvalidInput
from collector.services.ingest import IngestService
from collector.services.ingest_parse import decompress, parse_body

router = APIRouter(tags=["ingest"])

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


async def _read_capped(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidInput("Content-Length is not a number", field="Content-Length") from None
        if declared > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/api/v1/reports", openapi_extra=_BODY_DOC)
async def post_reports(request: Request) -> Response:
    started = time.perf_counter()
    ctx = request.app.state.ctx
    svc: IngestService = ctx.area("ingest")
    limits = ctx.config.ingest
    try:
        host = svc.authenticate(bearer(request))
        now = ctx.clock.now().timestamp()
        svc.check_rate(host, now)
        raw = await _read_capped(request, limits.max_body_bytes)
        data = decompress(raw, request.headers.get("content-encoding", ""), limits.max_decompressed_bytes)
        reports = parse_body(data, now=now, limits=limits, max_age=ctx.config.retention.reports)
        svc.check_agent(host, reports)
        stored = await svc.store(host, reports, now)
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
    body = orjson.dumps({"accepted": accepted, "duplicates": len(stored) - accepted})
    return Response(body, media_type="application/json")
