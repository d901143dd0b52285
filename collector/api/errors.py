"""How the errors of collector.errors' tree answer over HTTP: status, JSON body, headers.

``error_parts`` is the one mapping, used by the FastAPI exception handlers and by the
ingest fast path alike: NotFound 404, Conflict 409 (with ``allowed``), Forbidden 403,
InvalidInput 422, Unauthorized 401 (WWW-Authenticate), PayloadTooLarge 413, RateLimited
429 and Overloaded 503 (with Retry-After), any other UpkeepError 400, a database that does
not answer 503. The body is always ``{"error": "...", "field": "..."}``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import OperationalError

from collector.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UpkeepError,
)

__all__ = ["Overloaded", "PayloadTooLarge", "RateLimited", "Unauthorized", "error_body", "error_parts"]

log = logging.getLogger("upkeep.app")

STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
    (InvalidInput, 422),
    (Unauthorized, 401),
    (PayloadTooLarge, 413),
    (RateLimited, 429),
    (Overloaded, 503),
    (UpkeepError, 400),
)


def error_body(error: str, field: str = "", **extra: Any) -> dict[str, Any]:
    return {"error": error, "field": field, **extra}


def error_parts(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """(status, body, headers) for an error the API answers; None for anything else (a bug)."""
    if isinstance(exc, OperationalError):
        # Not the caller's fault and not worth a traceback to them: retry later (agents keep
        # the report spooled). The details go to the log.
        log.warning("database error: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 503, error_body("the database is unavailable; retry later"), {"Retry-After": "5"}
    for kind, status in STATUS:
        if isinstance(exc, kind):
            headers: dict[str, str] = {}
            extra: dict[str, Any] = {}
            if isinstance(exc, Conflict):
                extra["allowed"] = exc.allowed
            if isinstance(exc, RateLimited | Overloaded):
                headers["Retry-After"] = str(exc.retry_after)
            if isinstance(exc, Unauthorized):
                headers["WWW-Authenticate"] = "Bearer"
            return status, error_body(str(exc), getattr(exc, "field", ""), **extra), headers
    return None
