"""Use cases: ingest -> evaluate -> tickets; diagnose; inspect.

Each area is a module with ``install(ctx)`` that builds its service from the
context's config, store and clock and puts it in ``ctx.areas[NAME]``; the server
and the command line build the same context, so a CLI command and an API call
run the same code.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from collector.config import CollectorConfig
from collector.core.window import RecentWindow
from collector.ports import Clock
from collector.services.window_gate import WindowGate

# Installed in this order: a later area may use an earlier one's service.
AREAS = ("ingest", "alerts", "tickets", "diagnosis", "inspections")


@dataclass
class AppContext:
    config: CollectorConfig
    engine: Engine
    clock: Clock
    window: RecentWindow
    areas: dict[str, Any] = field(default_factory=dict)
    # Long-running loops the server starts after start-up (the CLI does not):
    # each is ``async def loop(stop: asyncio.Event) -> None``.
    background: list[Callable[[Any], Awaitable[None]]] = field(default_factory=list)
    # prometheus_client collectors the server's /metrics exposes (business figures are
    # computed from the database at scrape time, so every collector process agrees).
    metrics: list[Any] = field(default_factory=list)
    # Called once when the server or command finishes, in reverse order.
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Set when closing starts: long housekeeping (rollups, retention) stops between its chunks,
    # each its own transaction, so a shutdown never waits for a whole backlog to be folded.
    stopping: threading.Event = field(default_factory=threading.Event)
    # Rule rounds read the window in a worker thread; the event loop's changes wait here meanwhile.
    gate: WindowGate = field(default_factory=WindowGate)

    def area(self, name: str) -> Any:
        return self.areas[name]

    def close(self) -> None:
        self.stopping.set()
        while self.closers:
            self.closers.pop()()
