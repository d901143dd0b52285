"""HTTP-only refusals, next to collector.errors' tree (which the app maps to status codes).

UpkeepError
├── Unauthorized          no bearer token, or one that is unknown or revoked   -> 401
├── PayloadTooLarge       a body (or its decompressed form) over the limit     -> 413
├── RateLimited           a host far above its normal rate (``retry_after``)   -> 429
└── Overloaded            the ingest queue is full (``retry_after``)            -> 503
"""

from __future__ import annotations

from collector.errors import UpkeepError


class Unauthorized(UpkeepError):
    pass


class PayloadTooLarge(UpkeepError):
    def __init__(self, message: str, *, field: str = "body") -> None:
        self.field = field
        super().__init__(message)


class RateLimited(UpkeepError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Overloaded(UpkeepError):
    """The ingest queue is full: answered 503 with Retry-After; the agent keeps the report spooled."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(message)
