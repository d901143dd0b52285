"""The refusals HTTP maps to 401, 413, 429 and 503; they live in collector.errors' tree."""

from __future__ import annotations

from collector.errors import Overloaded, PayloadTooLarge, RateLimited, Unauthorized

__all__ = ["Overloaded", "PayloadTooLarge", "RateLimited", "Unauthorized"]
