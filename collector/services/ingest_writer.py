"""The group-commit writer: many requests' reports, one transaction, one fsync.

Requests put a ``Job`` on a queue and await its future. One thread takes every job
waiting, stores their reports in one transaction, commits, and only then resolves
each job's future (on the job's event loop, in commit order). So a 2xx always
follows a commit, and the cost of a commit is shared by everyone who arrived
while the previous one was being written.

A repeated ``(agent_id, seq)`` is found before inserting (the writer remembers each
agent's highest stored seq and asks the database only about older ones); the unique
constraint stays the guarantee when several collectors share PostgreSQL: on a clash
the batch is redone report by report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from collector.errors import Unauthorized
from collector.services.ingest_parse import Report
from collector.store import reportlog
from collector.store.inventory import get_number, hosts, valid_tokens

log = logging.getLogger("upkeep.ingest")

MAX_BATCH_REPORTS = 4000


@dataclass
class Job:
    host_id: str
    reports: list[Report]
    received_at: float
    future: asyncio.Future[list[bool]] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    # For a caller without an event loop (the CLI, tests): set when resolved.
    done: threading.Event = field(default_factory=threading.Event)
    result: list[bool] | BaseException | None = None
    # The host token's hash and the auth generation its lookup is known good for: a job whose
    # generation is not the store's at commit time has its token checked again in the store.
    digest: str = ""
    auth_gen: int = -1


# Called on the job's loop after commit with (job, stored flags), before its future resolves.
Committed = Callable[[Job, list[bool]], None]
# Called on the writer's thread with the store's auth generation when it moved.
GenerationMoved = Callable[[int], None]


# How stale a host's stored ``last_seen`` may get while it keeps reporting (seconds). Its row is
# written with the first report after a start (or after the heartbeat sweep marked it down),
# whenever its interval or agent version changes, and otherwise once this much later: rewriting
# every host's row on every report (facts and check results included, SQLite rewrites the row) cost
# a tenth of the collector's capacity. The server's own view (heartbeats, `up`) is in memory and
# exact; after a start it is taken from the report log; the heartbeat sweep writes the exact time
# of a host it marks down; the writer writes every host's latest when it stops.
LAST_SEEN_EVERY = 60.0


class GroupCommitWriter:
    def __init__(self, engine: Engine, on_committed: Committed, on_generation: GenerationMoved) -> None:
        self._engine = engine
        self._on_committed = on_committed
        self._on_generation = on_generation
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_seq: dict[str, int] = {}
        self._facts: dict[str, Any] = {}
        self._checks: dict[str, Any] = {}
        # Per host: (last seen, interval, agent version) as stored, and newer ones not stored yet.
        self._written: dict[str, tuple[float, float, str]] = {}
        self._unwritten: dict[str, tuple[float, float, str]] = {}
        self.pending = 0
        self.commits = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="upkeep-ingest-writer", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Store what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def submit(self, job: Job) -> None:
        self.start()
        self.pending += len(job.reports)
        self._queue.put(job)

    def rewrite_host(self, host_id: str) -> None:
        """The host was marked down (with its exact last seen time): its next report writes its
        row whatever changed, and what it sent before is not written again."""
        self._written.pop(host_id, None)
        self._unwritten.pop(host_id, None)

    def _forget_all(self) -> None:
        """A commit failed: what the maps say was stored may not be."""
        self._last_seq.clear()
        self._facts.clear()
        self._checks.clear()
        self._written.clear()

    # -- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            count = len(first.reports)
            while count < MAX_BATCH_REPORTS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                jobs.append(nxt)
                count += len(nxt.reports)
            self._write(jobs)
            self.pending -= count
        self._flush_seen()

    def _flush_seen(self) -> None:
        """Every host's latest last seen, interval and version, stored (the writer stops)."""
        rows = self._unwritten.copy()  # one step: the heartbeat sweep may drop entries meanwhile
        if not rows:
            return
        try:
            with self._engine.begin() as conn:
                _write_seen(
                    conn, [{"hid": h, "ls": ls, "iv": iv, "av": av} for h, (ls, iv, av) in rows.items()]
                )
        except Exception:
            log.exception("storing the hosts' last seen times failed")
            return
        self._written.update(rows)
        for host_id in rows:
            self._unwritten.pop(host_id, None)

    def _write(self, jobs: list[Job]) -> None:
        try:
            with self._engine.begin() as conn:
                results = self._store(conn, jobs)
            self.commits += 1
        except IntegrityError:
            # Another collector stored one of these between our check and our insert.
            self._forget_all()
            results = []
            for job in jobs:
                try:
                    with self._engine.begin() as conn:
                        results.extend(self._store(conn, [job]))
                except Exception as exc:
                    log.exception("ingest write failed")
                    results.append(exc)
        except Exception as exc:
            log.exception("ingest write failed")
            self._forget_all()
            results = [exc] * len(jobs)
        self._resolve_all(jobs, results)

    def _refused(self, conn: Connection, jobs: list[Job]) -> set[int]:
        """Indexes of jobs whose token was revoked or re-issued after their lookup (see Job)."""
        gen = get_number(conn, "auth_generation")
        self._on_generation(gen)
        doubtful = {(j.host_id, j.digest) for j in jobs if j.auth_gen != gen}
        if not doubtful:
            return set()
        good = valid_tokens(conn, doubtful)
        return {i for i, j in enumerate(jobs) if j.auth_gen != gen and (j.host_id, j.digest) not in good}

    def _store(self, conn: Connection, jobs: list[Job]) -> list[list[bool] | BaseException]:
        refused = self._refused(conn, jobs)
        if not refused:
            return list(self._insert(conn, jobs))
        stored = iter(self._insert(conn, [j for i, j in enumerate(jobs) if i not in refused]))
        return [
            Unauthorized("unknown or revoked host token") if i in refused else next(stored)
            for i in range(len(jobs))
        ]

    def _insert(self, conn: Connection, jobs: list[Job]) -> list[list[bool]]:
        seen: set[tuple[str, int]] = set()
        unsure: list[tuple[str, int]] = []
        for job in jobs:
            for r in job.reports:
                if r.agent_id not in self._last_seq:
                    self._last_seq[r.agent_id] = reportlog.max_seq(conn, r.agent_id)
                if r.seq <= self._last_seq[r.agent_id]:
                    unsure.append((r.agent_id, r.seq))
        stored_before = reportlog.existing(conn, unsure) if unsure else set()
        rows: list[dict[str, Any]] = []
        results: list[list[bool]] = []
        latest: dict[str, tuple[Job, Report]] = {}
        # The highest sequence numbers this commit adds, put in the map only once it went in
        # (the map has an entry per agent of the fleet: no copy of it per commit).
        raised: dict[str, int] = {}
        known = self._last_seq
        for job in jobs:
            flags = []
            for r in job.reports:
                key = (r.agent_id, r.seq)
                new = key not in stored_before and key not in seen
                seen.add(key)
                flags.append(new)
                if not new:
                    continue
                rows.append(
                    {
                        "host_id": job.host_id,
                        "agent_id": r.agent_id,
                        "seq": r.seq,
                        "ts": r.ts,
                        "received_at": job.received_at,
                        "body": reportlog.encode_body(r.samples, r.checks),
                    }
                )
                if r.seq > raised.get(r.agent_id, 0) and r.seq > known.get(r.agent_id, 0):
                    raised[r.agent_id] = r.seq
                prev = latest.get(job.host_id)
                if prev is None or r.ts >= prev[1].ts:
                    latest[job.host_id] = (job, r)
            results.append(flags)
        reportlog.insert_reports(conn, rows)
        self._update_hosts(conn, latest)
        known.update(raised)
        return results

    def _update_hosts(self, conn: Connection, latest: dict[str, tuple[Job, Report]]) -> None:
        """Each host's last report of the commit: last seen, interval and agent version always;
        facts and check results when they changed. One statement each for the whole commit: after
        a start every host's first report has "changed" checks (thousands in the first seconds)."""
        plain: list[dict[str, Any]] = []
        facts: list[dict[str, Any]] = []
        checks: list[dict[str, Any]] = []
        written, unwritten = self._written, self._unwritten
        for host_id, (job, r) in latest.items():
            seen = (job.received_at, r.interval, r.agent_version)
            was = written.get(host_id)
            if was is None or was[1:] != seen[1:] or seen[0] - was[0] >= LAST_SEEN_EVERY:
                plain.append({"hid": host_id, "ls": seen[0], "iv": seen[1], "av": seen[2]})
                written[host_id] = seen
                unwritten.pop(host_id, None)
            else:
                unwritten[host_id] = seen
            if r.facts is not None and self._facts.get(host_id) != r.facts:
                facts.append({"hid": host_id, "facts": r.facts})
                self._facts[host_id] = r.facts
            summary = [(c["name"], c["kind"], c["status"], c["output"]) for c in r.checks]
            if self._checks.get(host_id) != summary:
                checks.append({"hid": host_id, "checks": [dict(c, ts=r.ts) for c in r.checks]})
                self._checks[host_id] = summary
        for rows, column in ((facts, hosts.c.facts), (checks, hosts.c.checks)):
            if rows:
                conn.execute(
                    update(hosts)
                    .where(hosts.c.id == bindparam("hid"))
                    .values({column: bindparam(column.name, type_=column.type)}),
                    rows,
                )
        if plain:
            _write_seen(conn, plain)

    def _resolve_all(self, jobs: list[Job], results: list[list[bool] | BaseException]) -> None:
        """Answer a commit's jobs: those of an event loop in one callback on it (one wake-up of
        the loop a commit, not one a request), the others (no loop) here."""
        on_loops: dict[asyncio.AbstractEventLoop, list[tuple[Job, list[bool] | BaseException]]] = {}
        for job, res in zip(jobs, results, strict=True):
            if job.loop is None or job.future is None:
                if not isinstance(res, BaseException):
                    try:
                        self._on_committed(job, res)
                    except Exception:
                        log.exception("after-commit step failed")
                job.result = res
                job.done.set()
            else:
                on_loops.setdefault(job.loop, []).append((job, res))
        for loop, answered in on_loops.items():
            # A closed loop means nobody is waiting for the answer any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._finish, answered)

    def _finish(self, answered: list[tuple[Job, list[bool] | BaseException]]) -> None:
        """On the event loop: apply each job's committed reports and answer its request."""
        for job, res in answered:
            future = job.future
            assert future is not None
            if future.done():
                continue
            if isinstance(res, BaseException):
                future.set_exception(res)
                continue
            try:
                self._on_committed(job, res)
            except Exception:
                # The reports are stored; a window hiccup must not turn the answer into a retry.
                log.exception("after-commit step failed")
            future.set_result(res)


def _write_seen(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Hosts' last seen time, interval and agent version; a host not revoked is up again."""
    conn.execute(
        update(hosts)
        .where(hosts.c.id == bindparam("hid"), hosts.c.status != "revoked")
        .values(
            last_seen=bindparam("ls"), interval=bindparam("iv"), agent_version=bindparam("av"), status="up"
        ),
        rows,
    )
