"""The small interfaces the services need from the world.

The pure core (collector/core) never imports these implementations; the services
take them as arguments so a test or the demo can pass an in-memory one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class AlertSink(Protocol):
    """Where alert state changes go: the ticket area implements it; until then they are only recorded.

    ``changes`` are ``collector.core.alerting.AlertChange`` values (an alert that started firing,
    is still firing, or resolved), in evaluation order.
    """

    def alerts_changed(self, changes: Sequence[Any], now: datetime) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock a test moves by hand (time is an input in tests too)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, seconds: float) -> datetime:
        from datetime import timedelta

        self._now = self._now + timedelta(seconds=seconds)
        return self._now
