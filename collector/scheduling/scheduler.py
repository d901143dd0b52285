"""APScheduler inside the collector, its jobs in the collector's own database.

``Scheduler`` wraps an APScheduler 3 scheduler whose job store is a SQLAlchemyJobStore
on the collector's engine. Jobs keep APScheduler's semantics (triggers, coalescing,
misfire grace, max one instance), but the moment of dispatch comes from the collector's
injected clock: ``run_due(now)`` starts what is due at ``now`` and says how long to wait
for the next. The server calls it from one thread while this collector leads; a test
calls it with the times it wants.

Before a job runs, its slot (job id, scheduled time) is claimed in ``scheduled_runs``
under a unique constraint, so two collectors can never run one slot twice, even if
both believed for a moment that they led.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.debug import DebugExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from sqlalchemy.engine import Engine

from collector.scheduling import jobs
from collector.scheduling.definitions import JobSpec, is_ours, trigger_fingerprint
from collector.scheduling.leader import Leadership, SoleLeader
from collector.store import schedule as store

log = logging.getLogger(__name__)
_TICK = timedelta(seconds=1)


class _ClockedScheduler(BaseScheduler):
    """APScheduler's scheduler without a loop of its own: ``Scheduler`` drives dispatch."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.woken = threading.Event()

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self.woken.set()

    def wakeup(self) -> None:
        self.woken.set()


@dataclass(frozen=True)
class Dispatch:
    """What ``run_due`` did with one due slot of a job."""

    job_id: str
    scheduled_for: datetime
    outcome: str  # started, missed, claimed-elsewhere, not-leader


@dataclass(frozen=True)
class JobView:
    id: str
    name: str
    next_run: datetime | None
    timezone: str
    trigger: str
    customer: str | None
    misfire_grace_time: int | None


class Scheduler:
    """The collector's scheduler. ``start`` opens the job store; ``sync`` writes the wanted jobs."""

    def __init__(
        self,
        engine: Engine,
        clock: Any,
        *,
        leader: Leadership | None = None,
        workers: int = 4,
        inline: bool = False,
        context: Any = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.leader = leader or SoleLeader()
        self.inline = inline
        self.context = context
        self.runner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._aps = _ClockedScheduler(
            timezone=UTC,
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=store.JOBS_TABLE)},
            executors={"default": DebugExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._pool = None if inline else ThreadPoolExecutor(max_workers=workers,
                                                            thread_name_prefix="upkeep-job")
        self._running: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listeners: list[Callable[[Dispatch], None]] = []

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the job store (no dispatch happens until ``run_due`` or ``start_loop``)."""
        if self._aps.state == STATE_STOPPED:
            self._aps.start(paused=True)
        if self.context is not None:
            jobs.activate(self.context)

    def shutdown(self) -> None:
        self._stop.set()
        self._aps.woken.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._aps.state != STATE_STOPPED:
            self._aps.shutdown(wait=False)
        if self.context is not None:
            jobs.deactivate(self.context)
        close = getattr(self.leader, "close", None)
        (close or self.leader.release)()

    # --- jobs ---------------------------------------------------------------------------------

    def sync(
        self, specs: list[JobSpec], now: datetime, keep: Callable[[str], bool] = lambda _id: False
    ) -> None:
        """Make the job store hold exactly ``specs`` (plus stored jobs ``keep`` accepts).

        A stored job whose schedule is unchanged keeps its next run time: a slot that came
        due while the collector was down stays due and runs (once) when dispatch resumes.
        """
        stored = {j.id: j for j in self._aps.get_jobs()}
        for spec in specs:
            old = stored.pop(spec.id, None)
            if old is not None and self._same(old, spec):
                continue
            first = spec.trigger.get_next_fire_time(None, now)
            if first is None:
                continue
            self._aps.add_job(
                spec.func, trigger=spec.trigger, args=spec.args, id=spec.id, name=spec.name,
                misfire_grace_time=spec.misfire_grace_time, coalesce=True, max_instances=1,
                replace_existing=True, next_run_time=first,
            )
        for job_id in stored:
            if is_ours(job_id) and not keep(job_id):
                self._aps.remove_job(job_id)

    @staticmethod
    def _same(job: Job, spec: JobSpec) -> bool:
        return (
            job.func_ref == spec.func
            and tuple(job.args) == tuple(spec.args)
            and job.misfire_grace_time == spec.misfire_grace_time
            and trigger_fingerprint(job.trigger) == trigger_fingerprint(spec.trigger)
        )

    def jobs(self) -> list[JobView]:
        """Every stored job with its next run, soonest first."""
        out = []
        for j in self._aps.get_jobs():
            tz = getattr(j.trigger, "timezone", UTC)
            args = tuple(j.args)
            out.append(JobView(
                id=j.id, name=j.name, next_run=getattr(j, "next_run_time", None), timezone=str(tz),
                trigger=str(j.trigger), customer=args[0] if args and isinstance(args[0], str) else None,
                misfire_grace_time=j.misfire_grace_time,
            ))
        far = datetime.max.replace(tzinfo=UTC)
        return sorted(out, key=lambda v: (v.next_run or far, v.id))

    # --- dispatch -----------------------------------------------------------------------------

    def run_due(self, now: datetime) -> float | None:
        """Start every job slot due at ``now``; seconds until the next one is due (None: no jobs).

        Due slots of one job are coalesced into the latest; a slot later than the job's misfire
        grace is recorded as missed instead of run. Nothing runs unless this collector leads.
        """
        if not self.leader.holds() and not self.leader.try_acquire():
            return None
        store_ = self._aps._lookup_jobstore("default")
        due: list[tuple[Job, datetime]] = []
        for job in store_.get_due_jobs(now):
            times = []
            t = job.next_run_time
            while t is not None and t <= now:
                times.append(t)
                nxt = job.trigger.get_next_fire_time(t, now)
                # A trigger must move forward; never spin on one that answers the same time.
                t = nxt if nxt is None or nxt > t else job.trigger.get_next_fire_time(t, t + _TICK)
            if not times:
                continue
            slot = times[-1] if job.coalesce else None
            for run_time in [slot] if slot is not None else times:
                late = (now - run_time).total_seconds()
                if job.misfire_grace_time is not None and late > job.misfire_grace_time:
                    self._missed(job, run_time, now)
                else:
                    due.append((job, run_time))
            if t is not None:
                self._aps.modify_job(job.id, next_run_time=t)
            else:
                self._aps.remove_job(job.id)
        for job, run_time in due:
            self._start(job, run_time, now)
        nxt = store_.get_next_run_time()
        return None if nxt is None else max(0.0, (nxt - now).total_seconds())

    def _missed(self, job: Job, run_time: datetime, now: datetime) -> None:
        with self.engine.begin() as conn:
            store.claim_run(conn, job.id, run_time.timestamp(), now.timestamp(), self.runner, status="missed")
        log.warning("scheduler: %s missed its run at %s (grace %ss)", job.id, run_time,
                    job.misfire_grace_time)
        self._aps._dispatch_event(JobExecutionEvent(EVENT_JOB_MISSED, job.id, "default", run_time))
        self._tell(Dispatch(job.id, run_time, "missed"))

    def _start(self, job: Job, run_time: datetime, now: datetime) -> None:
        with self._lock:
            running = self._running.get(job.id)
            if running is not None and not running.done():
                log.warning("scheduler: %s is still running; skipping its run at %s", job.id, run_time)
                return
        # Fencing: a collector that lost its session must not start anything more.
        if not self.leader.holds():
            self._tell(Dispatch(job.id, run_time, "not-leader"))
            return
        with self.engine.begin() as conn:
            run_id = store.claim_run(conn, job.id, run_time.timestamp(), now.timestamp(), self.runner)
        if run_id is None:
            self._tell(Dispatch(job.id, run_time, "claimed-elsewhere"))
            return
        self._tell(Dispatch(job.id, run_time, "started"))
        run = jobs.JobRun(job.id, run_time, now)
        if self._pool is None:
            self._execute(job, run, run_id)
        else:
            with self._lock:
                self._running[job.id] = self._pool.submit(self._execute, job, run, run_id)

    def _execute(self, job: Job, run: jobs.JobRun, run_id: int) -> None:
        status, error = "ok", ""
        try:
            with jobs.running(run):
                job.func(*job.args, **job.kwargs)
        except Exception as exc:
            status, error = "error", f"{type(exc).__name__}: {exc}"
            log.exception("scheduler: job %s failed", job.id)
        with self.engine.begin() as conn:
            store.finish_run(conn, run_id, status, self.clock.now().timestamp(), error)
        code = EVENT_JOB_EXECUTED if status == "ok" else EVENT_JOB_ERROR
        self._aps._dispatch_event(JobExecutionEvent(code, job.id, "default", run.scheduled_for))

    def _tell(self, d: Dispatch) -> None:
        for listener in self.listeners:
            listener(d)

    # --- the server's loop --------------------------------------------------------------------

    def start_loop(self, on_lead: Callable[[datetime], None] | None = None, *, retry: float = 5.0,
                   max_idle: float = 30.0) -> None:
        """Dispatch in a thread until ``shutdown``: lead if possible, else retry every ``retry`` s.

        ``on_lead(now)`` runs each time this collector takes the lead (the jobs are synced then,
        so the leader's configuration is the one in force).
        """
        self.start()

        def loop() -> None:
            leading = False
            while not self._stop.is_set():
                wait = retry
                try:
                    if self.leader.try_acquire():
                        if not leading and on_lead is not None:
                            on_lead(self.clock.now())
                        leading = True
                        nxt = self.run_due(self.clock.now())
                        wait = max_idle if nxt is None else min(max(nxt, 0.05), max_idle)
                    else:
                        leading = False
                except Exception:
                    log.exception("scheduler: dispatch failed; retrying")
                self._aps.woken.wait(wait)
                self._aps.woken.clear()

        self._thread = threading.Thread(target=loop, name="upkeep-scheduler", daemon=True)
        self._thread.start()


def local(dt: datetime | None, tz: str) -> datetime | None:
    """``dt`` in the named time zone (for listings)."""
    from zoneinfo import ZoneInfo

    return None if dt is None else dt.astimezone(ZoneInfo(tz))


