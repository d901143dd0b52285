"""The ingest area: reports in, durably stored, into the recent window; heartbeats; retention.

``install(ctx)`` puts an ``IngestService`` in ``ctx.areas["ingest"]`` and registers its
background loops (heartbeat sweep, rollups and retention) and its /metrics figures.
Functions the scheduler may call from its own jobs, each idempotent, ``now`` in:

    sweep_heartbeats(ctx, now)   hosts silent for 3 intervals -> up=0, series stale, status down
    run_rollups(ctx, now)        fold new report-log rows into 5-minute rollups
    run_retention(ctx, now)      drop report-log rows and rollups past their retention

Every stored report puts ``up{host,customer} 1`` (at the collector's time) and its
samples (at the report's time, labels ``host`` and ``customer`` added) in the window.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update

from collector.core.window import RecentWindow
from collector.errors import Forbidden, Overloaded, RateLimited, Unauthorized
from collector.services import AppContext
from collector.services.ingest_metrics import IngestMetrics
from collector.services.ingest_parse import Report
from collector.services.ingest_writer import GroupCommitWriter, Job
from collector.services.rollups import run_rollups
from collector.store import reportlog
from collector.store.inventory import (
    Host,
    get_number,
    hosts,
    list_hosts,
    token_owners,
)
from collector.store.tokens import hash_token

log = logging.getLogger("upkeep.ingest")

MISSED_INTERVALS = 3
MAX_PENDING_REPORTS = 50_000
MAX_DEFERRED_JOBS = 20_000
REBUILD_CHUNK = 2000
MAX_CACHED_TOKENS = 200_000
# How far past the window's retention its oldest samples may be before the periodic trim walks it.
TRIM_SLACK = 600.0
_TOKEN_SQL = {
    "sqlite": "SELECT id, token_hash FROM hosts WHERE token_hash = ?",
    "postgresql": "SELECT id, token_hash FROM hosts WHERE token_hash = %s",
}


@dataclass
class HostState:
    id: str
    name: str
    customer: str
    agent_id: str
    interval: float
    last_seen: float | None
    status: str
    # token bucket for the rate limit
    tokens: float = 0.0
    refilled: float = 0.0
    # Built once: every stored report passes it to the window (never changed after).
    base_labels: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.base_labels = {"host": self.name, "customer": self.customer}


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: its host, its token's hash, and the auth generation the
    lookup is known good for (see IngestService.authenticate)."""

    host: HostState
    digest: str
    generation: int


def _ts(when: datetime) -> float:
    return when.timestamp()


class IngestService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.metrics = IngestMetrics(ctx.engine, ctx.window)
        self.writer = GroupCommitWriter(ctx.engine, self._committed, self._generation_moved)
        self._hosts: dict[str, HostState] = {}
        self._by_token: dict[str, str] = {}
        self._token_gen = -1
        self._lookup_lock = threading.Lock()
        self._lock = threading.Lock()
        self._loaded = False
        # While the window is being rebuilt after a start, new reports wait in _deferred.
        self.rebuilding = False
        self._deferred: list[tuple[Job, list[bool]]] = []

    # -- host state -------------------------------------------------------------------------
    def load_hosts(self) -> None:
        with self.ctx.engine.connect() as conn:
            rows = list_hosts(conn)
        with self._lock:
            fresh: dict[str, HostState] = {}
            for h in rows:
                fresh[h.id] = self._merge(h)
            # Swapped whole, so a reader iterating the old dict on another thread never sees it change.
            self._hosts = fresh
            self._loaded = True

    def add_host(self, host: Host) -> None:
        """A host just enrolled (or re-enrolled) in this process."""
        with self._lock:
            fresh = dict(self._hosts)
            fresh[host.id] = self._merge(host)
            self._hosts = fresh

    def _merge(self, h: Host) -> HostState:
        old = self._hosts.get(h.id)
        state = HostState(h.id, h.name, h.customer, h.agent_id, h.interval, h.last_seen, h.status)
        if old is not None:
            state.tokens, state.refilled = old.tokens, old.refilled
            state.last_seen = max(old.last_seen or 0.0, h.last_seen or 0.0) or None
            if old.status == "down" and h.status == "up":
                state.status = "down"  # the sweep's view wins until a report arrives
        return state

    def host_state(self, host_id: str) -> HostState | None:
        if not self._loaded:
            self.load_hosts()
        return self._hosts.get(host_id)

    def authenticate(self, token: str) -> Caller:
        """The host a host token belongs to; 401 for an unknown or revoked one.

        A token seen before is answered from memory, tagged with the auth generation the
        memory is known good for; the ingest writer reads the store's generation once per
        commit and re-checks, in the store, every job whose tag is older, so a revocation (or
        a re-issued token) committed before a request arrived refuses that request's reports.
        The per-request database read this replaces was a tenth of the event loop's time.
        """
        if not token.startswith("uph_"):
            raise Unauthorized("a host token is required to push reports")
        digest = hash_token(token)
        with self._lookup_lock:
            gen = self._token_gen
            host_id = self._by_token.get(digest)
        if host_id is None:
            with self.ctx.engine.connect() as conn:
                # Every host's first request after a start comes here: the plain statement on
                # the driver (no SQLAlchemy compile per call).
                sql = _TOKEN_SQL.get(conn.dialect.name)
                if sql is None:
                    row = conn.execute(
                        select(hosts.c.id, hosts.c.token_hash).where(hosts.c.token_hash == digest)
                    ).first()
                else:
                    row = conn.exec_driver_sql(sql, (digest,)).first()
                if row is None:
                    raise Unauthorized("unknown or revoked host token")
                if not hmac.compare_digest(row[1], digest):
                    raise Unauthorized("unknown or revoked host token")
            host_id = row[0]
            with self._lookup_lock:
                if len(self._by_token) > MAX_CACHED_TOKENS:
                    self._by_token.clear()
                if gen == self._token_gen:
                    self._by_token[digest] = host_id
        state = self.host_state(host_id)
        if state is None or state.agent_id == "":
            self.load_hosts()
            state = self._hosts.get(host_id)
        if state is None or state.status == "revoked":
            self.load_hosts()
            state = self._hosts.get(host_id)
            if state is None or state.status == "revoked":
                raise Unauthorized("unknown or revoked host token")
        return Caller(state, digest, gen)

    def _generation_moved(self, gen: int) -> None:
        """The writer saw a new auth generation: forget every cached lookup (writer's thread)."""
        with self._lookup_lock:
            if gen == self._token_gen:
                return
            self._by_token.clear()
            self._token_gen = gen
            self._loaded = False  # statuses may have changed too: reload the inventory

    def check_rate(self, host: HostState, now: float) -> None:
        """Token bucket: ``ingest.max_rate_per_minute`` requests a minute, bursts up to that many."""
        cap = float(self.ctx.config.ingest.max_rate_per_minute)
        if host.refilled == 0.0:
            host.tokens, host.refilled = cap, now
        host.tokens = min(cap, host.tokens + (now - host.refilled) * cap / 60.0)
        host.refilled = now
        if host.tokens < 1.0:
            wait = max(1, int((1.0 - host.tokens) * 60.0 / cap + 0.999))
            raise RateLimited(
                f"host {host.name} is sending more than {int(cap)} requests a minute", retry_after=wait
            )
        host.tokens -= 1.0

    def check_agent(self, host: HostState, reports: list[Report]) -> None:
        for i, r in enumerate(reports):
            if r.agent_id != host.agent_id:
                raise Forbidden(f"reports[{i}].agent_id: this token belongs to another agent")

    # -- storing ----------------------------------------------------------------------------
    async def store(self, caller: Caller, reports: list[Report], received_at: float) -> list[bool]:
        """Store durably (group commit), then update the window; per report, True when new."""
        if self.writer.pending > MAX_PENDING_REPORTS:
            raise Overloaded("the collector is busy; retry shortly", retry_after=2)
        loop = asyncio.get_running_loop()
        job = Job(caller.host.id, reports, received_at, loop.create_future(), loop,
                  digest=caller.digest, auth_gen=caller.generation)
        self.writer.submit(job)
        assert job.future is not None
        return await job.future

    def store_sync(self, caller: Caller, reports: list[Report], received_at: float) -> list[bool]:
        """The same without an event loop (command line, tests)."""
        job = Job(caller.host.id, reports, received_at, digest=caller.digest, auth_gen=caller.generation)
        self.writer.submit(job)
        job.done.wait()
        if isinstance(job.result, BaseException):
            raise job.result
        assert job.result is not None
        return job.result

    def _committed(self, job: Job, stored: list[bool]) -> None:
        host = self._hosts.get(job.host_id)
        if host is None:
            return
        host.last_seen = max(host.last_seen or 0.0, job.received_at)
        if host.status != "revoked":
            host.status = "up"
        if job.reports:
            host.interval = job.reports[-1].interval
        samples = sum(len(r.samples) for r, new in zip(job.reports, stored, strict=True) if new)
        self.metrics.stored(sum(stored), len(stored) - sum(stored), samples)
        if self.rebuilding:
            # Applied once the rebuild has put the older samples in (the window refuses
            # out-of-order samples). Past the cap they are dropped here: they are in the
            # log, and the rebuild reads the log until it has caught up.
            self._deferred.append((job, stored))
            if len(self._deferred) > MAX_DEFERRED_JOBS:
                self._deferred.clear()
            return
        # During a rule round the window is read by the round's thread: this waits for it.
        self.ctx.gate.write(self._apply, host, job, stored)

    def _apply(self, host: HostState, job: Job, stored: list[bool]) -> None:
        window = self.ctx.window
        # `up` first: it is the collector's own series, written at the collector's time.
        window.append(host.name, "up", host.base_labels, job.received_at, 1.0)
        for r, new in zip(job.reports, stored, strict=True):
            if new:
                window.append_report(host.name, host.base_labels, r.ts, r.samples)

    # -- start-up ---------------------------------------------------------------------------
    def startup(self) -> None:
        """Load the inventory and start the writer; the window is rebuilt by ``rebuild_loop``
        (or ``rebuild_window``) while ingest already runs."""
        self.load_hosts()
        self._preload_tokens()
        self.rebuilding = True
        self.writer.start()

    def _preload_tokens(self) -> None:
        """Every host's token lookup at once, so that after a start the fleet's first requests
        (thousands within one interval) do not each query the store on the event loop."""
        with self.ctx.engine.connect() as conn:
            gen = get_number(conn, "auth_generation")  # before the map: a later revocation re-checks
            owners = token_owners(conn, MAX_CACHED_TOKENS)
        with self._lookup_lock:
            self._by_token = owners
            self._token_gen = gen

    def _replay(self, reps: list[reportlog.LoggedReport], now: float) -> None:
        window = self.ctx.window
        whole, deeper = window.kept_since(now)
        for rep in reps:
            host = self._hosts.get(rep.host_id)
            if host is None:
                continue
            # The stored last seen time may lag (ingest_writer.LAST_SEEN_EVERY); the log does not.
            if host.last_seen is None or rep.received_at > host.last_seen:
                host.last_seen = rep.received_at
            samples = _kept(rep, whole, deeper)
            if samples or rep.ts >= whole:  # a report left with nothing kept goes in as none
                window.append_report(host.name, host.base_labels, rep.ts, samples)

    def _finish_rebuild(self, now: float, n: int) -> None:
        deferred, self._deferred = self._deferred, []
        for job, stored in deferred:
            host = self._hosts.get(job.host_id)
            if host is not None:
                self._apply(host, job, stored)
        for host in list(self._hosts.values()):
            if host.status == "revoked" or host.last_seen is None:
                continue
            fresh = now - host.last_seen <= MISSED_INTERVALS * host.interval
            self.ctx.window.append(host.name, "up", host.base_labels, now, 1.0 if fresh else 0.0)
        self.rebuilding = False
        log.info("recent window rebuilt from %d reports", n)

    def rebuild_window(self, now: float) -> int:
        """Put the report log back into the window as far as it keeps each metric, at once; returns
        the reports read. (The server uses ``rebuild_loop``, which does the same in chunks.)"""
        n = 0
        with self.ctx.engine.connect() as conn:
            page = list(reportlog.reports_since(conn, now - self.ctx.window.deepest))
        self._replay(page, now)
        n = len(page)
        self._finish_rebuild(now, n)
        return n

    async def rebuild_loop(self, stop: asyncio.Event) -> None:
        """The server's rebuild: reads the log in chunks off the event loop, appends on it."""
        if not self.rebuilding:
            return
        now = _ts(self.ctx.clock.now())
        after = (now - self.ctx.window.deepest, -1)
        n = 0

        def read(after: tuple[float, int]) -> list[reportlog.LoggedReport]:
            with self.ctx.engine.connect() as conn:
                return reportlog.reports_page(conn, after, REBUILD_CHUNK)

        while not stop.is_set():
            page = await asyncio.to_thread(read, after)
            if not page:
                break
            await self.ctx.gate.free()
            self._replay(page, now)
            n += len(page)
            after = (page[-1].ts, page[-1].id)
        await self.ctx.gate.free()
        self._finish_rebuild(_ts(self.ctx.clock.now()), n)

    # -- deeper rules ------------------------------------------------------------------------
    def _history(self, wanted: dict[str, float], now: float) -> RecentWindow:
        """The report log's samples of the ``wanted`` metrics (each with the depth it was kept
        before) from as far back as the window now keeps each, in a window of their own."""
        window = self.ctx.window
        past = RecentWindow(window.deepest)
        whole, deeper = window.kept_since(now)
        since = min(deeper.get(name, whole) for name in wanted)
        until = now - min(wanted.values())  # newer samples are all held
        with self.ctx.engine.connect() as conn:
            for rep in reportlog.reports_since(conn, since, batch=REBUILD_CHUNK):
                if rep.ts >= until:
                    break
                host = self._hosts.get(rep.host_id)
                if host is None:
                    continue
                # The same names from every report, so a series is marked stale only where the
                # host stopped sending it, as in the window itself.
                samples = [s for s in _kept(rep, whole, deeper) if s[0] in wanted]
                if samples:
                    past.append_report(host.name, host.base_labels, rep.ts, samples)
        return past

    def backfill_window(self, now: float) -> int:
        """Give the metrics the window keeps deeper since the rules last changed their history
        from the report log, at once; returns the series that got some. (The server uses
        ``backfill``, which reads the log off the event loop.)"""
        wanted = self.ctx.window.take_deepened()
        return self.ctx.window.graft(self._history(wanted, now)) if wanted else 0

    async def backfill(self, now: float) -> int:
        """``backfill_window`` for the server: the log is read in a thread, the history goes
        into the window on the loop, between rule rounds."""
        wanted = self.ctx.window.take_deepened()
        if not wanted:
            return 0
        past = await asyncio.to_thread(self._history, wanted, now)
        await self.ctx.gate.free()
        n = self.ctx.window.graft(past)
        log.info("history of %d series read back from the report log for rules reaching further", n)
        return n

    def close(self) -> None:
        self.writer.stop()


def _kept(rep: reportlog.LoggedReport, whole: float, deeper: dict[str, float]) -> list:
    """The samples of a logged report that the window keeps (``whole`` and ``deeper`` from
    ``RecentWindow.kept_since``). Read in time order, a host's series only ever join as the
    reports get newer, so none is marked stale for being left out of an older one."""
    if rep.ts >= whole:
        return rep.samples
    return [s for s in rep.samples if deeper.get(s[0], whole) <= rep.ts]


# -- functions for the scheduler ----------------------------------------------------------------
def sweep_heartbeats(ctx: AppContext, now: float) -> list[str]:
    """Hosts silent for 3 intervals go down: ``up`` 0, their other series stale. Returns their names.

    Touches the window, so call it on the thread that owns the window (the server's event loop).
    """
    svc: IngestService = ctx.area("ingest")
    if svc.rebuilding:
        return []  # an `up` 0 now would come before samples the rebuild still has to add
    if not svc._loaded:
        svc.load_hosts()
    down: list[HostState] = []
    for host in list(svc._hosts.values()):
        if host.status != "up" or host.last_seen is None:
            continue
        if now - host.last_seen > MISSED_INTERVALS * host.interval:
            host.status = "down"
            ctx.window.append(host.name, "up", host.base_labels, now, 0.0)
            ctx.window.mark_host_stale(host.name, now)
            down.append(host)
    if down:
        # One statement for all of them: after a long outage (or a start) that is thousands of
        # hosts, and this runs on the event loop.
        with ctx.engine.begin() as conn:
            conn.execute(
                update(hosts)
                .where(hosts.c.id == bindparam("hid"), hosts.c.status != "revoked")
                .values(status="down", last_seen=bindparam("ls")),
                [{"hid": host.id, "ls": host.last_seen} for host in down],
            )
        # The ingest writer stores a reporting host's last seen time only now and then: what
        # it has not stored yet is written here, and the host's next report goes up again.
        for host in down:
            svc.writer.rewrite_host(host.id)
    return [h.name for h in down]


def run_retention(ctx: AppContext, now: float) -> tuple[int, int]:
    """Delete report-log rows older than ``retention.reports`` (once rolled up) and old rollups.

    Deletes in small chunks so the ingest writer never waits long for SQLite's write lock; a
    closing context stops it between chunks.
    Returns (reports deleted, rollups deleted).
    """
    run_rollups(ctx, now)
    cutoff = now - ctx.config.retention.reports
    bucket_cutoff = int(now - ctx.config.retention.rollups)
    gone_reports = gone_rollups = 0
    while not ctx.stopping.is_set():
        with ctx.engine.begin() as conn:
            mark = get_number(conn, "rollup_watermark")
            ids = list(
                conn.execute(
                    select(reportlog.reports.c.id)
                    .where(reportlog.reports.c.ts < cutoff, reportlog.reports.c.id <= mark)
                    .limit(5000)
                ).scalars()
            )
            if not ids:
                break
            conn.execute(delete(reportlog.reports).where(reportlog.reports.c.id.in_(ids)))
            gone_reports += len(ids)
    with ctx.engine.begin() as conn:
        gone_rollups = reportlog.delete_rollups_before(conn, bucket_cutoff)
    return gone_reports, gone_rollups


# -- background loops ---------------------------------------------------------------------------
async def _pace(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until stop; True when it is time to stop."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def install(ctx: AppContext) -> None:
    """Build the ingest service into ctx.areas and register its loops and metrics."""
    svc = IngestService(ctx)
    ctx.areas["ingest"] = svc
    ctx.metrics.extend(svc.metrics.collectors())
    ctx.closers.append(svc.close)

    async def heartbeat_loop(stop: asyncio.Event) -> None:
        beats = 0
        while not await _pace(stop, 5.0):
            beats += 1
            try:
                await ctx.gate.free()  # not while a rule round reads the window
                now = _ts(ctx.clock.now())
                sweep_heartbeats(ctx, now)
                if not svc.rebuilding:
                    # Rules reloaded to read further back: their metrics' history from the log.
                    await svc.backfill(now)
                if beats % 12 == 0:
                    # Trimming walks every series: at most once a minute, only once the oldest
                    # samples are past the retention by a slack, and in steps between which
                    # requests are answered.
                    slack = min(TRIM_SLACK, ctx.window.retention / 10)
                    for _ in ctx.window.trim_steps(now, slack=slack):
                        await asyncio.sleep(0)
                        if ctx.gate.held:
                            break  # a round began: the next minute's walk goes on
            except Exception:
                log.exception("heartbeat sweep failed")

    # Rollups and retention are the scheduler leader's jobs by default (they must run once per
    # database, not once per collector); this loop covers whichever of them it does not run.
    own_rollups = not ctx.config.schedule.schedules("rollups")
    own_retention = not ctx.config.schedule.schedules("retention")

    async def retention_loop(stop: asyncio.Event) -> None:
        # Rollups every 5 minutes (a bucket's rows are then written about once), retention hourly.
        runs = 0
        while not await _pace(stop, float(reportlog.ROLLUP_STEP)):
            runs += 1
            try:
                now = _ts(ctx.clock.now())
                if own_retention and (runs % 12 == 0 or not own_rollups):
                    await asyncio.to_thread(run_retention, ctx, now)
                elif own_rollups:
                    await asyncio.to_thread(run_rollups, ctx, now)
            except Exception:
                log.exception("rollups or retention failed")

    ctx.background.extend([svc.rebuild_loop, heartbeat_loop])
    if own_rollups or own_retention:
        ctx.background.append(retention_loop)
