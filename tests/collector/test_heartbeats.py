"""The `up` series, the heartbeat sweep and rebuilding the window after a restart."""

from __future__ import annotations

import asyncio
import threading

import orjson

from collector.config import CollectorConfig
from collector.ports import FixedClock
from collector.services import AppContext
from collector.services.ingest import IngestService, sweep_heartbeats
from collector.services.ingest_parse import parse_body
from collector.store import inventory
from tests.collector.conftest import make_ingest_context
from tests.collector.reports import report
from tests.collector.test_store import _enroll, _push


def _value(ctx: AppContext, name: str, host: str, t: float) -> float | None:
    for s in ctx.window.series_named(name):
        if s.labels.get("host") == host:
            got = s.at(t, 300.0)
            return None if got is None else got[1]
    return None


def _enrolled(config: CollectorConfig, clock: FixedClock) -> tuple[AppContext, str, str, float]:
    """A fresh ingest context with one enrolled host: (context, agent id, host token, now)."""
    ctx = make_ingest_context(config, clock)
    aid, token = _enroll(ctx)
    return ctx, aid, token, clock.now().timestamp()


def test_a_silent_host_goes_down_and_comes_back(ingest_ctx: AppContext, clock: FixedClock) -> None:
    aid, token = _enroll(ingest_ctx)
    t0 = clock.now().timestamp()
    assert _push(ingest_ctx, token, [report(aid, 1, t0)], t0) == [True]
    assert _value(ingest_ctx, "up", "db-01", t0) == 1.0
    assert ingest_ctx.window.series_named("up").__iter__().__next__().labels == {
        "__name__": "up",
        "host": "db-01",
        "customer": "acme",
    }
    assert _value(ingest_ctx, "node_load1", "db-01", t0) == 1.0

    assert sweep_heartbeats(ingest_ctx, t0 + 45) == []  # exactly 3 intervals: not yet
    assert sweep_heartbeats(ingest_ctx, t0 + 46) == ["db-01"]
    assert sweep_heartbeats(ingest_ctx, t0 + 60) == []  # already down: nothing new
    assert _value(ingest_ctx, "up", "db-01", t0 + 46) == 0.0
    assert _value(ingest_ctx, "node_load1", "db-01", t0 + 46) is None  # stale
    with ingest_ctx.engine.connect() as conn:
        host = inventory.get_host(conn, "db-01")
    assert host is not None
    assert host.status == "down"

    clock.set(clock.now().replace(minute=5))
    t1 = clock.now().timestamp()
    assert _push(ingest_ctx, token, [report(aid, 2, t1)], t1) == [True]
    assert _value(ingest_ctx, "up", "db-01", t1) == 1.0
    with ingest_ctx.engine.connect() as conn:
        host = inventory.get_host(conn, "db-01")
    assert host is not None
    assert host.status == "up"


def test_the_window_is_rebuilt_from_the_report_log(store_config: CollectorConfig, clock: FixedClock) -> None:
    ctx, aid, token, t0 = _enrolled(store_config, clock)
    docs = [report(aid, i + 1, t0 - 300 + 15 * i, value=float(i)) for i in range(20)]
    assert all(_push(ctx, token, docs, t0))
    before = {s.key: list(s.vs) for s in ctx.window.series_named("node_load1")}
    ctx.close()

    again = make_ingest_context(store_config, clock)
    try:
        again.window.retention = 3600.0  # every report of the log
        svc: IngestService = again.area("ingest")
        svc.startup()
        # A report arriving while the window is rebuilt waits for the older samples to go in first.
        assert _push(again, token, [report(aid, 21, t0 + 1, value=99.0)], t0 + 1) == [True]
        assert list(again.window.series_named("node_load1")) == []
        assert sweep_heartbeats(again, t0 + 3600) == []  # no verdicts on a half-built window
        assert svc.rebuild_window(t0 + 2) == 21
        after = {s.key: list(s.vs) for s in again.window.series_named("node_load1")}
        assert after == {k: [*v, 99.0] for k, v in before.items()}
        assert _value(again, "up", "db-01", t0 + 2) == 1.0
    finally:
        again.close()


def test_a_rebuild_reads_each_metric_back_as_far_as_the_window_keeps_it(
    store_config: CollectorConfig, clock: FixedClock
) -> None:
    ctx, aid, token, t0 = _enrolled(store_config, clock)
    docs = [report(aid, i + 1, t0 - 3000 + 15 * i, value=float(i)) for i in range(200)]
    assert all(_push(ctx, token, docs, t0))
    before = {s.key: (list(s.ts), list(s.vs)) for s in ctx.window.all_series()}
    ctx.close()

    again = make_ingest_context(store_config, clock)
    try:
        window = again.window
        assert window.retention == 300.0  # the default
        window.keep({"node_filesystem_avail_bytes": 3600.0})
        svc: IngestService = again.area("ingest")
        svc.startup()
        assert svc.rebuild_window(t0) == 200  # read back as far as the deepest metric
        disks = list(window.series_named("node_filesystem_avail_bytes"))
        assert len(disks) == 2
        for s in disks:
            assert (list(s.ts), list(s.vs)) == before[s.key]  # all 50 minutes
        (load,) = window.series_named("node_load1")
        ts, vs = before[load.key]
        kept = [i for i, t in enumerate(ts) if t >= t0 - 300]
        assert len(kept) == 20
        # Only its last 5 minutes, and no stale marker where the older reports left it out.
        assert list(load.ts) == [ts[i] for i in kept]
        assert list(load.vs) == [vs[i] for i in kept]
    finally:
        again.close()


def test_metrics_kept_deeper_get_their_history_back_from_the_report_log(
    ingest_ctx: AppContext, clock: FixedClock
) -> None:
    aid, token = _enroll(ingest_ctx)
    t0 = clock.now().timestamp()
    docs = [report(aid, i + 1, t0 - 3000 + 15 * i, value=float(i)) for i in range(200)]
    assert all(_push(ingest_ctx, token, docs, t0))
    window = ingest_ctx.window
    deep = {s.key: (list(s.ts), list(s.vs)) for s in window.all_series()}
    window.trim(t0)  # the default depth: 5 minutes of everything
    assert all(len(s.ts) == 20 for s in window.series_named("node_filesystem_avail_bytes"))
    svc: IngestService = ingest_ctx.area("ingest")
    assert svc.backfill_window(t0) == 0  # nothing kept deeper: nothing to read
    # Rules now read the filesystems over 40 minutes.
    window.fit({"node_filesystem_avail_bytes": 2400.0, "node_load1": 60.0}, floor=300.0, margin=15.0)
    assert asyncio.run(svc.backfill(t0)) == 2
    for s in window.series_named("node_filesystem_avail_bytes"):
        ts, vs = deep[s.key]
        kept = [i for i, t in enumerate(ts) if t >= t0 - 2415]
        assert len(kept) == 161
        assert (list(s.ts), list(s.vs)) == ([ts[i] for i in kept], [vs[i] for i in kept])
    (load,) = window.series_named("node_load1")
    assert len(load.ts) == 20
    assert svc.backfill_window(t0) == 0  # done once


def test_a_report_is_answered_during_a_rule_round_and_reaches_the_window_after_it(
    ingest_ctx: AppContext, clock: FixedClock
) -> None:
    aid, token = _enroll(ingest_ctx)
    svc: IngestService = ingest_ctx.area("ingest")
    t0 = clock.now().timestamp()
    assert _push(ingest_ctx, token, [report(aid, 1, t0, value=1.0)], t0) == [True]
    release = threading.Event()
    seen_by_round: list[float | None] = []

    def round_() -> None:
        release.wait(10)
        seen_by_round.append(_value(ingest_ctx, "node_load1", "db-01", t0 + 15))

    async def main() -> tuple[list[bool], float | None]:
        rnd = asyncio.create_task(ingest_ctx.gate.read(round_))
        await asyncio.sleep(0.01)
        body = orjson.dumps({"reports": [report(aid, 2, t0 + 15, value=7.0)]})
        reports = parse_body(body, now=t0 + 15, limits=ingest_ctx.config.ingest,
                             max_age=ingest_ctx.config.retention.reports)
        # Durably stored and answered while the round still holds the window...
        answer = await asyncio.wait_for(svc.store(svc.authenticate(token), reports, t0 + 15), 10)
        during = _value(ingest_ctx, "node_load1", "db-01", t0 + 15)
        release.set()
        await rnd
        return answer, during

    answer, during = asyncio.run(main())
    assert answer == [True]
    assert during == 1.0  # ...and kept out of the window the round reads
    assert seen_by_round == [1.0]
    assert _value(ingest_ctx, "node_load1", "db-01", t0 + 15) == 7.0  # applied after the round


def _stored(ctx: AppContext) -> tuple[float | None, str, float]:
    with ctx.engine.connect() as conn:
        host = inventory.get_host(conn, "db-01")
    assert host is not None
    return host.last_seen, host.status, host.interval


def test_a_reporting_hosts_row_is_written_now_and_then_and_exactly_when_it_goes_down_or_stops(
    store_config: CollectorConfig, clock: FixedClock
) -> None:
    ctx, aid, token, t0 = _enrolled(store_config, clock)
    svc: IngestService = ctx.area("ingest")
    try:
        _push(ctx, token, [report(aid, 1, t0)], t0)
        assert _stored(ctx) == (t0, "up", 15.0)  # a host's first report after a start: written
        _push(ctx, token, [report(aid, 2, t0 + 15)], t0 + 15)
        assert _stored(ctx)[0] == t0  # less than LAST_SEEN_EVERY later: not rewritten
        (state,) = [svc.host_state(h.id) for h in svc._hosts.values()]
        assert state is not None
        assert state.last_seen == t0 + 15  # the server's own view is exact
        _push(ctx, token, [report(aid, 3, t0 + 30, interval=30.0)], t0 + 30)
        assert _stored(ctx) == (t0 + 30, "up", 30.0)  # the interval changed: written at once
        _push(ctx, token, [report(aid, 4, t0 + 60, interval=30.0)], t0 + 60)
        assert _stored(ctx)[0] == t0 + 30
        _push(ctx, token, [report(aid, 5, t0 + 90, interval=30.0)], t0 + 90)
        assert _stored(ctx)[0] == t0 + 90  # LAST_SEEN_EVERY after the last write
        _push(ctx, token, [report(aid, 6, t0 + 100, interval=30.0)], t0 + 100)
        assert _stored(ctx)[0] == t0 + 90
        _push(ctx, token, [report(aid, 7, t0 + 110)], t0 + 110)
        assert _stored(ctx) == (t0 + 110, "up", 15.0)
        _push(ctx, token, [report(aid, 8, t0 + 120)], t0 + 120)
        # Silent for more than 3 intervals: down, with the exact last seen time the server had.
        assert sweep_heartbeats(ctx, t0 + 166) == ["db-01"]
        assert _stored(ctx) == (t0 + 120, "down", 15.0)
        # Back less than LAST_SEEN_EVERY after the last write: up again in the store at once.
        _push(ctx, token, [report(aid, 9, t0 + 167)], t0 + 167)
        assert _stored(ctx) == (t0 + 167, "up", 15.0)
        _push(ctx, token, [report(aid, 10, t0 + 175)], t0 + 175)
        assert _stored(ctx)[0] == t0 + 167
    finally:
        ctx.close()
    # The writer stores every host's latest when it stops.
    again = make_ingest_context(store_config, clock)
    try:
        assert _stored(again) == (t0 + 175, "up", 15.0)
    finally:
        again.close()


def test_after_a_crash_the_last_seen_times_come_from_the_report_log(
    store_config: CollectorConfig, clock: FixedClock
) -> None:
    ctx, aid, token, t0 = _enrolled(store_config, clock)
    svc: IngestService = ctx.area("ingest")
    _push(ctx, token, [report(aid, 1, t0 - 40)], t0 - 40)
    _push(ctx, token, [report(aid, 2, t0 - 10)], t0 - 10)
    svc.writer._unwritten.clear()  # as after kill -9: the writer never got to store them
    ctx.close()

    again = make_ingest_context(store_config, clock)
    try:
        assert _stored(again)[0] == t0 - 40
        svc = again.area("ingest")
        svc.startup()
        svc.rebuild_window(t0)
        (state,) = list(svc._hosts.values())
        assert state.last_seen == t0 - 10
        assert _value(again, "up", "db-01", t0) == 1.0
        # Stored 40 s ago, the host would be down at t0 + 6; the log says it is not.
        assert sweep_heartbeats(again, t0 + 6) == []
    finally:
        again.close()
