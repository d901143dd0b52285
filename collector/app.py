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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.api import ROUTER_MODULES
from collector.api.errors import Overloaded, PayloadTooLarge, RateLimited, Unauthorized
from collector.config import CollectorConfig
from collector.core.window import RecentWindow
from collector.errors import Conflict, Forbidden, InvalidInput, NotFound, UpkeepError
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


def _body(error: str, field: str = "", **extra: Any) -> dict[str, Any]:
    return {"error": error, "field": field, **extra}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install_error_handlers(app: FastAPI) -> None:
    def handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(_request: Request, exc: Exception) -> JSONResponse:
            headers: dict[str, str] = {}
            extra: dict[str, Any] = {}
            if isinstance(exc, Conflict):
                extra["allowed"] = exc.allowed
            if isinstance(exc, RateLimited | Overloaded):
                headers["Retry-After"] = str(exc.retry_after)
            if isinstance(exc, Unauthorized):
                headers["WWW-Authenticate"] = "Bearer"
            return JSONResponse(
                _body(str(exc), getattr(exc, "field", ""), **extra), status_code=status, headers=headers
            )

        return handle

    for exc_type, status in (
        (NotFound, 404),
        (Conflict, 409),
        (Forbidden, 403),
        (InvalidInput, 422),
        (Unauthorized, 401),
        (PayloadTooLarge, 413),
        (RateLimited, 429),
        (Overloaded, 503),
        (UpkeepError, 400),
    ):
        app.add_exception_handler(exc_type, handler(status))

    async def validation(_request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        if not errors:
            return JSONResponse(_body("invalid request"), status_code=422)
        first = errors[0]
        field = _field_of(first.get("loc", ()))
        msg = str(first.get("msg", "invalid value"))
        if first.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        return JSONResponse(_body(msg, field), status_code=422)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            _body(str(exc.detail)), status_code=exc.status_code, headers=dict(exc.headers or {})
        )

    async def database_down(_request: Request, exc: Exception) -> JSONResponse:
        # Not the caller's fault and not worth a traceback to them: retry later (agents keep
        # the report spooled). The details go to the log.
        log.warning("database error: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return JSONResponse(
            _body("the database is unavailable; retry later"), status_code=503, headers={"Retry-After": "5"}
        )

    app.add_exception_handler(OperationalError, database_down)
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
                    response = JSONResponse(_body(f"the body is over {self.limit} bytes", "body"), 413)
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

    app = FastAPI(title="upkeep collector", version=version, lifespan=lifespan)
    app.state.ctx = ctx
    install_error_handlers(app)
    for name in ROUTER_MODULES:
        module = importlib.import_module(f"collector.api.{name}")
        app.include_router(module.router)
    from collector import exposition

    app.include_router(exposition.router)
    app.add_middleware(BodyLimit, limit=DEFAULT_MAX_BODY, exempt=("/api/v1/reports",))
    return app
