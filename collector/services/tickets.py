"""The tickets area: tickets from alerts, Alertmanager, requests and inspection findings;
commands on them through the pure state machine; the SLA sweep; notifications.

``install(ctx)`` puts a ``TicketService`` in ``ctx.areas["tickets"]`` (it is the
``AlertSink`` of the alerts area), registers the sweep and outbox loops and the
``/metrics`` collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from collector.services import AppContext
from collector.services.ticket_base import Ticket, TicketBase
from collector.services.ticket_commands import CommandsMixin
from collector.services.ticket_intake import IntakeMixin
from collector.services.ticket_sweep import SweepMixin

log = logging.getLogger("upkeep.tickets")

__all__ = ["Ticket", "TicketService", "install"]


class TicketService(IntakeMixin, CommandsMixin, SweepMixin, TicketBase):
    """The tickets area's use cases (see the mixins): intake, commands and queries, the sweep."""


def install(ctx: AppContext) -> None:
    """Build the ticket service into ctx.areas["tickets"], with its background loops and metrics."""
    from collector.services.ticket_metrics import TicketMetrics

    svc = TicketService(ctx)
    ctx.areas["tickets"] = svc
    ctx.metrics.append(TicketMetrics(svc))
    ctx.background.append(svc.outbox.loop(ctx.engine, lambda: ctx.clock.now().timestamp()))
    if not ctx.config.schedule.schedules("sla-sweep"):
        ctx.background.append(_sweep_loop(svc, ctx))


def _sweep_loop(svc: TicketService, ctx: AppContext) -> Callable[[asyncio.Event], Any]:
    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(svc.sweep, ctx.clock.now())
            except Exception:
                log.exception("the SLA sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=svc.tcfg.sweep_interval)

    return run
