"""Two collectors on one PostgreSQL: one leads, the other takes over, no slot ever runs twice."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from collector.config import build_config
from collector.ports import FixedClock
from collector.scheduling.definitions import desired_jobs
from collector.scheduling.leader import AdvisoryLockLeader
from collector.scheduling.scheduler import Dispatch, Scheduler
from tests.schedule.test_scheduler import RecordingInspections, StubContext

pytestmark = pytest.mark.postgres

CONFIG = build_config({
    "customers": [
        {"name": "acme", "timezone": "Asia/Shanghai"},
        {"name": "beta", "timezone": "Europe/Berlin", "contract": {"inspection_cron": "0 2 * * 1"}},
        {"name": "gamma", "timezone": "America/New_York", "contract": {"inspection_cron": "30 1 * * *"}},
    ],
})
KEY = 4242


def _terminate(engine: Engine, pid: int) -> None:
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


def test_the_lock_has_one_holder_and_passes_on_when_it_dies(pg_engine: Engine) -> None:
    a, b = AdvisoryLockLeader(pg_engine, KEY), AdvisoryLockLeader(pg_engine, KEY)
    try:
        assert a.try_acquire()
        assert not b.try_acquire()
        assert a.holds()
        assert a.try_acquire(), "taking the lead again is idempotent"
        pid = a.backend_pid
        assert pid is not None
        _terminate(pg_engine, pid)
        assert not a.holds(), "the old leader notices its session is gone"
        assert b.try_acquire()
        assert not a.try_acquire()
        b.release()
        assert a.try_acquire()
    finally:
        a.close()
        b.close()


@pytest.mark.slow
def test_two_schedulers_never_run_the_same_slot_twice(pg_engine: Engine) -> None:
    rng = random.Random(20260301)
    start = datetime(2026, 10, 20, tzinfo=UTC)
    clock = FixedClock(start)
    area = RecordingInspections()
    ctx: Any = StubContext(clock, {"inspections": area})
    wanted = ("inspection:", "service-report:")
    specs = [s for s in desired_jobs(CONFIG, clock.now()) if s.id.startswith(wanted)]
    collectors = []
    for _ in range(2):
        leader = AdvisoryLockLeader(pg_engine, KEY)
        sched = Scheduler(pg_engine, clock, leader=leader, inline=True, context=ctx)
        seen: list[Dispatch] = []
        sched.listeners.append(seen.append)
        sched.start()
        collectors.append((sched, leader, seen))
    collectors[0][0].sync(specs, clock.now())
    takeovers = 0
    try:
        for _ in range(150):
            clock.advance(rng.uniform(2, 20) * 3600)
            if rng.random() < 0.2:  # the leader dies (its session ends); the other may take over
                for _sched, leader, _seen in collectors:
                    pid = leader.backend_pid
                    if pid is not None:
                        _terminate(pg_engine, pid)
                        takeovers += 1
            order = list(collectors)
            rng.shuffle(order)
            for sched, _leader, _seen in order:
                sched.run_due(clock.now())
        started = [(d.job_id, d.scheduled_for) for _s, _l, seen in collectors for d in seen
                   if d.outcome == "started"]
        per_collector = [sum(d.outcome == "started" for d in seen) for _s, _l, seen in collectors]
    finally:
        for sched, leader, _seen in collectors:
            sched.shutdown()
            leader.close()
    assert takeovers >= 5
    assert all(n > 0 for n in per_collector), "both collectors led at some point"
    dupes = [slot for slot, n in Counter(started).items() if n > 1]
    assert dupes == []
    # Every slot of gamma's daily 01:30 (New York) inspection ran exactly once, the fall-back
    # night included, because at most 20 hours pass between dispatches (within the grace).
    gamma = sorted(t for j, t in started if j == "inspection:gamma")
    trigger = next(s.trigger for s in specs if s.id == "inspection:gamma")
    expected, t = [], trigger.get_next_fire_time(None, start)
    while t <= clock.now():
        expected.append(t)
        t = trigger.get_next_fire_time(t, t.astimezone(UTC) + timedelta(seconds=1))
    assert len(expected) >= 50
    assert gamma == expected
    assert Counter(c for c, _ in area.runs)["gamma"] == len(gamma)
