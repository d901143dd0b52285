"""The diagnosis area's use cases."""

from __future__ import annotations

from collector.services import AppContext


def install(ctx: AppContext) -> None:
    """Build this area's service into ctx.areas."""
