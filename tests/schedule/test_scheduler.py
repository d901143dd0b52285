"""The scheduler over a real SQLite job store, driven by an injected clock (no sleeps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from collector.config import build_config
from collector.ports import FixedClock
from collector.scheduling.definitions import desired_jobs
from collector.scheduling.scheduler import Dispatch, Scheduler
from collector.store import schedule as store

CONFIG = build_config({
    "customers": [{"name": "acme", "timezone": "Asia/Shanghai"}],
    "schedule": {"heartbeat_interval": "30s", "housekeeping": ["heartbeat-sweep"]},
})


@dataclass
class RecordingInspections:
    """The inspections area, as the scheduled jobs see it (a seam we own)."""

    runs: list[tuple[str, datetime]] = field(default_factory=list)
    reports: list[tuple[str, datetime]] = field(default_factory=list)

    def run(self, customer: str, *, trigger: str, now: datetime) -> None:
        assert trigger == "schedule"
        self.runs.append((customer, now))

    def scheduled_service_report(self, customer: str, scheduled_for: datetime, now: datetime) -> None:
        self.reports.append((customer, scheduled_for))


@dataclass
class StubContext:
    clock: FixedClock
    areas: dict[str, Any]

    def area(self, name: str) -> Any:
        return self.areas[name]


def _specs(now: datetime) -> list[Any]:
    return [s for s in desired_jobs(CONFIG, now) if s.id in {"heartbeat-sweep", "inspection:acme",
                                                               "service-report:acme"}]


def _scheduler(
    engine: Engine, clock: FixedClock, area: RecordingInspections
) -> tuple[Scheduler, list[Dispatch]]:
    sched = Scheduler(engine, clock, inline=True, context=StubContext(clock, {"inspections": area}))
    seen: list[Dispatch] = []
    sched.listeners.append(seen.append)
    sched.start()
    return sched, seen


def test_jobs_are_stored_and_listed_with_their_next_local_run(sqlite_engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 15, tzinfo=UTC))
    sched, _ = _scheduler(sqlite_engine, clock, RecordingInspections())
    sched.sync(_specs(clock.now()), clock.now())
    views = {v.id: v for v in sched.jobs()}
    assert views["inspection:acme"].next_run == datetime(2026, 2, 28, 18, 0, tzinfo=UTC)  # 1 March 02:00 +08
    assert views["inspection:acme"].timezone == "Asia/Shanghai"
    sched.shutdown()
    # Another process (the CLI) reads the same jobs from the database.
    again, _ = _scheduler(sqlite_engine, clock, RecordingInspections())
    assert {v.id for v in again.jobs()} == {"heartbeat-sweep", "inspection:acme", "service-report:acme"}
    again.shutdown()


def test_an_inspection_missed_while_down_runs_once_when_the_collector_returns(sqlite_engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 27, tzinfo=UTC))
    area = RecordingInspections()
    sched, _ = _scheduler(sqlite_engine, clock, area)
    sched.sync(_specs(clock.now()), clock.now())
    sched.run_due(clock.now())
    sched.shutdown()  # the collector goes down before 1 March 02:00 (Shanghai) ...

    clock.set(datetime(2026, 3, 3, 12, tzinfo=UTC))  # ... and comes back two and a half days later.
    sched, seen = _scheduler(sqlite_engine, clock, area)
    sched.sync(_specs(clock.now()), clock.now())  # the same schedule keeps its overdue slot
    sched.run_due(clock.now())
    sched.run_due(clock.now())
    started = [(d.job_id, d.scheduled_for) for d in seen if d.outcome == "started"]
    assert ("inspection:acme", datetime(2026, 2, 28, 18, 0, tzinfo=UTC)) in started
    assert area.runs == [("acme", clock.now())], "once, with the collector's clock"
    # The service report of February ran too, as of its own slot (06:00 on 1 March, Shanghai).
    assert area.reports == [("acme", datetime(2026, 2, 28, 22, 0, tzinfo=UTC))]
    # Hours of missed heartbeat sweeps were coalesced into a single run.
    assert [j for j, _ in started].count("heartbeat-sweep") == 1
    assert {v.id: v.next_run for v in sched.jobs()}["inspection:acme"] == datetime(2026, 3, 31, 18, 0,
                                                                                    tzinfo=UTC)
    sched.shutdown()


def test_a_job_later_than_its_grace_is_recorded_as_missed_not_run(sqlite_engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 27, tzinfo=UTC))
    area = RecordingInspections()
    sched, seen = _scheduler(sqlite_engine, clock, area)
    sched.sync(_specs(clock.now()), clock.now())
    sched.shutdown()
    clock.set(datetime(2026, 3, 12, tzinfo=UTC))  # eleven days down: past the seven-day grace
    sched, seen = _scheduler(sqlite_engine, clock, area)
    sched.run_due(clock.now())
    assert area.runs == []
    assert ("inspection:acme", "missed") in {(d.job_id, d.outcome) for d in seen}
    with sqlite_engine.connect() as conn:
        runs = store.recent_runs(conn, "inspection:acme")
    assert [(r["status"], r["scheduled_for"]) for r in runs] == [
        ("missed", datetime(2026, 2, 28, 18, 0, tzinfo=UTC).timestamp())]
    sched.shutdown()


def test_a_changed_schedule_replaces_the_stored_one(sqlite_engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 15, tzinfo=UTC))
    sched, _ = _scheduler(sqlite_engine, clock, RecordingInspections())
    sched.sync(_specs(clock.now()), clock.now())
    changed = build_config({"customers": [{"name": "acme", "timezone": "Asia/Shanghai",
                                           "contract": {"inspection_cron": "0 4 15 * *"}}]})
    specs = [s for s in desired_jobs(changed, clock.now()) if s.id == "inspection:acme"]
    sched.sync(specs, clock.now())
    views = {v.id: v for v in sched.jobs()}
    assert set(views) == {"inspection:acme"}, "jobs no longer wanted are removed"
    # 04:00 on the 15th in Shanghai has passed today (08:00 there): next month's.
    assert views["inspection:acme"].next_run == datetime(2026, 3, 14, 20, 0, tzinfo=UTC)
    sched.shutdown()


def test_a_slot_is_claimed_once(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as conn:
        first = store.claim_run(conn, "inspection:acme", 1000.0, 1001.0, "a")
        second = store.claim_run(conn, "inspection:acme", 1000.0, 1002.0, "b")
        other = store.claim_run(conn, "inspection:acme", 2000.0, 2001.0, "b")
    assert first is not None
    assert second is None
    assert other is not None
