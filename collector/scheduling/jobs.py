"""The scheduled job functions, and the registry through which they find the running collector.

The job store keeps a job as a textual reference (``collector.scheduling.jobs:monthly_inspection``)
and its arguments, never a pickled closure, so a job outlives the process that added it. The
scheduler ``activate``s its context before it dispatches anything; every job function reads the
context and the run it belongs to from here.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector.errors import UpkeepError

_lock = threading.Lock()
_context: Any = None


@dataclass(frozen=True)
class JobRun:
    """The run a job function is part of: which job, the slot it was due at, and now."""

    job_id: str
    scheduled_for: datetime
    now: datetime


_current: ContextVar[JobRun | None] = ContextVar("upkeep_job_run", default=None)


def activate(ctx: Any) -> None:
    """Make ``ctx`` the context job functions work on (the scheduler calls this when it starts)."""
    global _context
    with _lock:
        _context = ctx


def deactivate(ctx: Any) -> None:
    global _context
    with _lock:
        if _context is ctx:
            _context = None


def context() -> Any:
    """The running collector's AppContext; a job cannot run without one."""
    ctx = _context
    if ctx is None:
        raise UpkeepError("no collector context is active: scheduled jobs run inside the collector")
    return ctx


@contextmanager
def running(run: JobRun) -> Iterator[None]:
    token = _current.set(run)
    try:
        yield
    finally:
        _current.reset(token)


def current_run() -> JobRun | None:
    return _current.get()


def _now() -> datetime:
    run = _current.get()
    return run.now if run is not None else context().clock.now()


def _scheduled_for() -> datetime:
    run = _current.get()
    return run.scheduled_for if run is not None else _now()


def _housekeeping(name: str) -> Callable[..., Any]:
    """The inventory's housekeeping function ``name(ctx, now)``, wherever the collector defines it."""
    for module in ("collector.store.inventory", "collector.services.ingest", "collector.store.rollups",
                   "collector.store.retention"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if callable(found):
            return found
    raise UpkeepError(f"{name} is not available in this collector")


def heartbeat_sweep() -> None:
    """Mark hosts whose reports stopped as down (and record their ``up`` history)."""
    _housekeeping("sweep_heartbeats")(context(), _now().timestamp())


def sla_sweep() -> None:
    """Let the ticket area check deadlines, escalate and close surveys that timed out."""
    context().area("tickets").sweep(_now())


def rollups() -> None:
    """Fold recent samples into 5-minute rollups."""
    _housekeeping("run_rollups")(context(), _now().timestamp())


def retention() -> None:
    """Delete what has outlived its retention."""
    _housekeeping("run_retention")(context(), _now().timestamp())


def monthly_inspection(customer: str) -> None:
    """Inspect every host of ``customer`` (the contract's monthly preventive inspection)."""
    context().area("inspections").run(customer, trigger="schedule", now=_now())


def monthly_service_report(customer: str) -> None:
    """Store the service report of the month before the scheduled time (customer's time zone)."""
    context().area("inspections").scheduled_service_report(customer, _scheduled_for(), _now())


def contract_reminder(customer: str, what: str, days: int) -> None:
    """Remind the team that ``customer``'s warranty or support period ends in ``days`` days."""
    context().area("inspections").contract_reminder(customer, what, days, _now())
