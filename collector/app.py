"""Builds the collector: configuration -> store -> window -> every area's service -> HTTP app.

``build_context`` is shared by the server and the command line, so a CLI command
and an API call run the same code. ``create_app`` wraps a context in FastAPI:

- every module of ``collector.api.ROUTER_MODULES`` contributes its ``router``,
  included as-is: routers declare full paths (``/api/v1/tickets/{id}``);
- collector.errors map to JSON ``{"error": "...", "field": "..."}``: NotFound 404,
  Conflict 409 (with ``allowed``), Forbidden 403, InvalidInput 422, Unauthorized 401,
  PayloadTooLarge 413, RateLimited 429 and Overloaded 503 (with Retry-After), a database
  that does not answer 503; a request that fails FastAPI's own validation answers 422 the
  same way. Bad input is never a 500;
- at start-up each area service's optional ``startup()`` runs (in a thread) before
  the first request, then each ``ctx.background`` loop runs as a task sharing one
  stop event; at shutdown the event is set, the loops are awaited, ``ctx.close()`` runs;
- ``/metrics`` and ``/federate`` come from collector.exposition.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.api import ROUTER_MODULES
from collector.api.errors import STATUS, PayloadTooLarge, error_body, error_parts
from collector.api.ingest import REPORTS_PATH, serve_reports
from collector.config import CollectorConfig
from collector.core.window import RecentWindow
from collector.ports import Clock, SystemClock
from collector.services import AREAS, AppContext
from collector.store.engine import open_store

log = logging.getLogger("upkeep.app")

# Bodies of every other route are small; ingest enforces its own (configured) limit.
DEFAULT_MAX_BODY = 1_000_000


def build_context(
    config: CollectorConfig, clock: Clock | None = None, *, areas: Sequence[str] = AREAS
) -> AppContext:
    """Open the store (migrations applied), build the window and install the areas (every one by
    default; a command that needs only the store passes ``areas=()``)."""
    engine = open_store(config)
    ctx = AppContext(
        config=config,
        engine=engine,
        clock=clock or SystemClock(),
        window=RecentWindow(config.retention.window),
    )
    ctx.closers.append(engine.dispose)
    try:
        for area in areas:
            importlib.import_module(f"collector.services.{area}").install(ctx)
    except BaseException:
        ctx.close()
        raise
    return ctx


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        parts = error_parts(exc)
        assert parts is not None  # registered only for the types error_parts answers
        status, body, headers = parts
        return JSONResponse(body, status_code=status, headers=headers)

    for exc_type, _status in STATUS:
        app.add_exception_handler(exc_type, handle)
    app.add_exception_handler(OperationalError, handle)

    async def validation(_request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        if not errors:
            return JSONResponse(error_body("invalid request"), status_code=422)
        first = errors[0]
        field = _field_of(first.get("loc", ()))
        msg = str(first.get("msg", "invalid value"))
        if first.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        return JSONResponse(error_body(msg, field), status_code=422)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=dict(exc.headers or {})
        )

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)


class BodyLimit:
    """Refuses a body over the limit with 413 before reading it (by Content-Length), or as soon as
    a chunked body crosses it; ``/api/v1/reports`` has its own, configured, limit."""

    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    response = JSONResponse(error_body(f"the body is over {self.limit} bytes", "body"), 413)
                    await response(scope, receive, send)
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise PayloadTooLarge(f"the body is over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


class CollectorApp(FastAPI):
    """FastAPI, with agents' reports (``POST /api/v1/reports``) answered before its routing and
    middleware (collector.api.ingest.serve_reports: the same answers, at a fifth less cost)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == REPORTS_PATH and scope["method"] == "POST":
            await serve_reports(self.state.ctx, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(ctx: AppContext) -> FastAPI:
    """The HTTP application over a built context."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for service in list(ctx.areas.values()):
            startup = getattr(service, "startup", None)
            if callable(startup):
                await asyncio.to_thread(startup)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(loop(stop)) for loop in ctx.background]
        try:
            yield
        finally:
            stop.set()
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=10)
                for task in pending:
                    task.cancel()
            ctx.close()

    from collector import __version__ as version

    app = CollectorApp(title="upkeep collector", version=version, lifespan=lifespan)
    app.state.ctx = ctx
    install_error_handlers(app)
    for name in ROUTER_MODULES:
        module = importlib.import_module(f"collector.api.{name}")
        app.include_router(module.router)
    from collector import exposition

    app.include_router(exposition.router)
    app.add_middleware(BodyLimit, limit=DEFAULT_MAX_BODY, exempt=("/api/v1/reports",))
    return app
