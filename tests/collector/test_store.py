"""The store's contract, run unchanged on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from collector.config import CollectorConfig
from collector.ports import FixedClock
from collector.services import AppContext
from collector.services.enrollment import create_enrollment_token, enroll
from collector.services.ingest import IngestService, run_retention, run_rollups
from collector.services.ingest_parse import parse_body
from collector.store import inventory, reportlog, tokens
from collector.store.migrate import current_revision, head_revision, upgrade
from tests.collector.reports import agent_id, report


def test_migrations_reach_head_and_are_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_host_names_are_unique_across_customers(engine: Engine) -> None:
    with engine.begin() as conn:
        a = inventory.insert_host(
            conn,
            name=inventory.unique_host_name(conn, "db-01"),
            customer="acme",
            agent_id=agent_id(),
            facts={},
            token_hash="a" * 64,
            now=1.0,
        )
        b = inventory.insert_host(
            conn,
            name=inventory.unique_host_name(conn, "db-01"),
            customer="globex",
            agent_id=agent_id(),
            facts={},
            token_hash="b" * 64,
            now=1.0,
        )
    assert (a.name, b.name) == ("db-01", "db-01-2")
    with engine.connect() as conn:
        assert inventory.get_host(conn, "db-01-2") == b
        assert inventory.get_host(conn, b.id) == b
        assert inventory.get_host(conn, "nope") is None
        assert [h.name for h in inventory.list_hosts(conn, "acme")] == ["db-01"]
        assert [h.name for h in inventory.list_hosts(conn)] == ["db-01", "db-01-2"]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        inventory.insert_host(
            conn, name="db-01", customer="acme", agent_id=agent_id(), facts={}, token_hash="c" * 64, now=1.0
        )


def test_revocations_bump_the_auth_generation(engine: Engine) -> None:
    with engine.begin() as conn:
        tok, secret = tokens.create_api_token(conn, role="viewer", customer="acme", name="v", now=1.0)
        before = inventory.get_number(conn, "auth_generation")
    assert secret.startswith("upk_")
    with engine.connect() as conn:
        found = tokens.get_api_token_by_hash(conn, tokens.hash_token(secret))
    assert found is not None
    assert found[0] == tok
    with engine.begin() as conn:
        assert tokens.revoke_api_token(conn, tok.id, 2.0)
        assert not tokens.revoke_api_token(conn, tok.id, 3.0)
        assert inventory.get_number(conn, "auth_generation") == before + 1


def test_the_report_log_refuses_a_repeated_agent_and_seq(engine: Engine) -> None:
    with engine.begin() as conn:
        host = inventory.insert_host(
            conn, name="h", customer="acme", agent_id="a" * 32, facts={}, token_hash="d" * 64, now=1.0
        )
        row = {
            "host_id": host.id,
            "agent_id": "a" * 32,
            "seq": 1,
            "ts": 1.0,
            "received_at": 1.0,
            "body": b"{}",
        }
        conn.execute(insert(reportlog.reports), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(reportlog.reports), [row])


def _enroll(ctx: AppContext, customer: str = "acme", hostname: str = "db-01") -> tuple[str, str]:
    now = ctx.clock.now().timestamp()
    _tok, secret = create_enrollment_token(ctx, customer, expires_in=3600, once=False, now=now)
    aid = agent_id()
    return aid, enroll(ctx, secret, aid, {"hostname": hostname}, now).host_token


def _push(ctx: AppContext, token: str, docs: list[dict], now: float) -> list[bool]:
    svc: IngestService = ctx.area("ingest")
    caller = svc.authenticate(token)
    body = orjson.dumps({"reports": docs})
    reports = parse_body(body, now=now, limits=ctx.config.ingest, max_age=ctx.config.retention.reports)
    return svc.store_sync(caller, reports, now)


def test_group_commit_stores_each_report_once(ingest_ctx: AppContext, clock: FixedClock) -> None:
    aid, token = _enroll(ingest_ctx)
    now = clock.now().timestamp()
    docs = [report(aid, seq, now - 60 + seq) for seq in range(1, 11)]
    assert _push(ingest_ctx, token, docs, now) == [True] * 10
    # A replay of part of it plus two new ones: only the new ones are stored.
    again = [*docs[5:], report(aid, 11, now + 1), report(aid, 11, now + 1)]
    assert _push(ingest_ctx, token, again, now) == [False] * 5 + [True, False]
    with ingest_ctx.engine.connect() as conn:
        assert reportlog.count_reports(conn) == 11
        host = inventory.get_host(conn, "db-01")
    assert host is not None
    assert host.last_seen == now
    assert host.checks[0]["name"] == "nginx"


def test_a_fresh_writer_still_finds_old_duplicates(store_config: CollectorConfig, clock: FixedClock) -> None:
    from tests.collector.conftest import make_ingest_context

    ctx = make_ingest_context(store_config, clock)
    aid, token = _enroll(ctx)
    now = clock.now().timestamp()
    assert _push(ctx, token, [report(aid, 1, now), report(aid, 2, now + 1)], now) == [True, True]
    ctx.close()
    ctx = make_ingest_context(store_config, clock)  # a restarted collector knows nothing in memory
    try:
        assert _push(ctx, token, [report(aid, 1, now), report(aid, 3, now + 2)], now) == [False, True]
    finally:
        ctx.close()


def test_rollups_keep_min_max_avg_last_per_five_minutes(ingest_ctx: AppContext, clock: FixedClock) -> None:
    aid, token = _enroll(ingest_ctx)
    base = 1_795_000_200.0  # a multiple of 300
    values = [(base + 10, 4.0), (base + 100, 1.0), (base + 250, 7.0), (base + 310, 2.0)]
    docs = [report(aid, i + 1, ts, samples=1, value=v) for i, (ts, v) in enumerate(values)]
    now = base + 900
    assert all(_push(ingest_ctx, token, docs[:2], now))
    assert run_rollups(ingest_ctx, now) == 2
    # The rest arrives later (a spool replay): it still lands in its own bucket.
    assert all(_push(ingest_ctx, token, docs[2:], now))
    assert run_rollups(ingest_ctx, now) == 2
    assert run_rollups(ingest_ctx, now) == 0
    with ingest_ctx.engine.connect() as conn:
        host = inventory.get_host(conn, "db-01")
        assert host is not None
        rows = reportlog.rollup_rows(conn, host.id, "node_load1", base, base + 600)
    assert [(r["bucket"], r["min"], r["max"], r["avg"], r["last"], r["count"]) for r in rows] == [
        (int(base), 1.0, 7.0, 4.0, 7.0, 3),
        (int(base) + 300, 2.0, 2.0, 2.0, 2.0, 1),
    ]


def _bucket_counts(ctx: AppContext) -> dict[str, int]:
    """Per host name, the samples of ``node_load1`` its rollups count."""
    with ctx.engine.connect() as conn:
        out = {}
        for host in inventory.list_hosts(conn):
            rows = reportlog.rollup_rows(conn, host.id, "node_load1", 0, 4_000_000_000)
            out[host.name] = sum(r["count"] for r in rows)
    return out


def test_a_closing_collector_stops_housekeeping_between_chunks(
    ingest_ctx: AppContext, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown never waits for a whole rollup backlog: the fold stops after the chunk in hand
    (its progress committed with it), and the next run goes on from the next host."""
    from collector.services import rollups as rollups_area

    monkeypatch.setattr(rollups_area, "HOSTS_PER_CHUNK", 1)
    now = clock.now().timestamp()
    for name, n in (("db-01", 3), ("db-02", 2), ("db-03", 4)):
        aid, token = _enroll(ingest_ctx, hostname=name)
        assert all(_push(ingest_ctx, token, [report(aid, i, now - 100 + i) for i in range(1, n + 1)], now))
    real = reportlog.merge_buckets

    def merge_then_close(conn: object, buckets: object) -> None:
        real(conn, buckets)  # type: ignore[arg-type]
        ingest_ctx.stopping.set()  # the server began closing while this chunk was folded

    monkeypatch.setattr(reportlog, "merge_buckets", merge_then_close)
    first = run_rollups(ingest_ctx, now)
    assert first in (2, 3, 4)  # one host's reports (hosts go in id order, which is random)
    assert run_retention(ingest_ctx, now + 10 * 86400) == (0, 0)  # stops before its first chunk
    monkeypatch.setattr(reportlog, "merge_buckets", real)
    ingest_ctx.stopping.clear()
    assert run_rollups(ingest_ctx, now) == 9 - first
    assert _bucket_counts(ingest_ctx) == {"db-01": 3, "db-02": 2, "db-03": 4}
    ingest_ctx.close()
    assert ingest_ctx.stopping.is_set()


def test_a_rollup_run_that_fails_resumes_without_folding_a_report_twice(
    ingest_ctx: AppContext, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run dies in its second chunk (rolled back); the next call resumes after the first
    chunk's host. A report logged in between is past the run's end: the run after folds it."""
    from collector.services import rollups as rollups_area

    monkeypatch.setattr(rollups_area, "HOSTS_PER_CHUNK", 1)
    now = clock.now().timestamp()
    pushers = {}
    for name in ("db-01", "db-02"):
        aid, token = _enroll(ingest_ctx, hostname=name)
        pushers[name] = (aid, token)
        assert all(_push(ingest_ctx, token, [report(aid, i, now - 50 + i) for i in (1, 2)], now))
    real = reportlog.merge_buckets
    calls = []

    def fail_second(conn: object, buckets: object) -> None:
        calls.append(buckets)
        if len(calls) == 2:
            raise RuntimeError("the disk went away")
        real(conn, buckets)  # type: ignore[arg-type]

    monkeypatch.setattr(reportlog, "merge_buckets", fail_second)
    with pytest.raises(RuntimeError):
        run_rollups(ingest_ctx, now)
    monkeypatch.setattr(reportlog, "merge_buckets", real)
    assert sum(_bucket_counts(ingest_ctx).values()) == 2  # the first chunk's host only
    for aid, token in pushers.values():
        assert all(_push(ingest_ctx, token, [report(aid, 3, now - 40)], now))
    assert run_rollups(ingest_ctx, now) == 2  # the rest of the run: the second host's two
    assert _bucket_counts(ingest_ctx) == {"db-01": 2, "db-02": 2}
    assert run_rollups(ingest_ctx, now) == 2  # the next run: the two reports logged since
    assert _bucket_counts(ingest_ctx) == {"db-01": 3, "db-02": 3}
    assert run_rollups(ingest_ctx, now) == 0


def test_the_rollup_fold_reads_the_log_one_report_at_a_time(
    ingest_ctx: AppContext, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = clock.now().timestamp()
    for name in ("db-01", "db-02"):
        aid, token = _enroll(ingest_ctx, hostname=name)
        assert all(_push(ingest_ctx, token, [report(aid, i + 1, t0 - 60 + 15 * i) for i in range(4)], t0))
    decoded = 0
    real = reportlog.orjson.loads

    def counting(data: bytes) -> object:
        nonlocal decoded
        decoded += 1
        return real(data)

    monkeypatch.setattr(reportlog.orjson, "loads", counting)
    with ingest_ctx.engine.connect() as conn:
        ids = [h.id for h in inventory.list_hosts(conn)]
        per_host = reportlog.host_reports(conn, ids, 0, 10**9)
        host_id, reps = next(per_host)
        assert decoded == 0
        first = next(iter(reps))
        # One body decoded for one report handed over: a chunk's bodies are never all held at once.
        assert decoded == 1
        assert first[0] == t0 - 60
        rest = list(reps)
        other, more = next(per_host)
        assert (len(rest), other != host_id, len(list(more)), decoded) == (3, True, 4, 8)
        assert next(per_host, None) is None


def test_retention_drops_old_reports_and_rollups(ingest_ctx: AppContext, clock: FixedClock) -> None:
    aid, token = _enroll(ingest_ctx)
    now = clock.now().timestamp()
    old = now - 6 * 86400
    assert all(_push(ingest_ctx, token, [report(aid, 1, old), report(aid, 2, now - 10)], now))
    later = now + 2 * 86400  # the first report is now 8 days old, past the 7-day default
    gone, _ = run_retention(ingest_ctx, later)
    assert gone == 1
    with ingest_ctx.engine.connect() as conn:
        assert reportlog.count_reports(conn) == 1
        n_rollups = conn.execute(select(func.count()).select_from(reportlog.rollups)).scalar_one()
    assert n_rollups > 0  # the dropped report was rolled up first
    _, gone_rollups = run_retention(ingest_ctx, now + 401 * 86400)
    assert gone_rollups == n_rollups


def _stored(ctx: AppContext, aid: str) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(reportlog.reports).where(reportlog.reports.c.agent_id == aid)
        ).scalar_one())


def test_a_token_revoked_elsewhere_is_refused_at_commit(ingest_ctx: AppContext, clock: FixedClock) -> None:
    """Lookups are answered from memory; the writer re-checks them in the store once the auth
    generation moved, so a revocation committed by another process refuses the next request."""
    from collector.errors import Unauthorized

    aid, token = _enroll(ingest_ctx, hostname="web-01")
    other_aid, other_token = _enroll(ingest_ctx, hostname="web-02")
    now = clock.now().timestamp()
    assert _push(ingest_ctx, token, [report(aid, 1, now)], now) == [True]
    assert _push(ingest_ctx, other_token, [report(other_aid, 1, now)], now) == [True]
    svc: IngestService = ingest_ctx.area("ingest")
    cached = svc.authenticate(token)  # from memory now, tagged with the generation it knows
    with ingest_ctx.engine.begin() as conn:  # as `upkeep hosts revoke` does, on its own connection
        inventory.revoke_host(conn, cached.host.id, now)
    with pytest.raises(Unauthorized):
        svc.store_sync(cached, parse_body(orjson.dumps(report(aid, 2, now)), now=now,
                                          limits=ingest_ctx.config.ingest, max_age=3600), now)
    assert _stored(ingest_ctx, aid) == 1
    with pytest.raises(Unauthorized):  # and the lookup itself refuses it from now on
        svc.authenticate(token)
    # The other host's lookup was also made under the old generation: re-checked, still good.
    assert _push(ingest_ctx, other_token, [report(other_aid, 2, now + 1)], now + 1) == [True]


def test_a_re_issued_token_refuses_the_old_one_in_the_same_batch(
    ingest_ctx: AppContext, clock: FixedClock
) -> None:
    from collector.errors import Unauthorized
    from collector.services.ingest_writer import GroupCommitWriter, Job

    aid, old = _enroll(ingest_ctx, hostname="db-01")
    other_aid, other_token = _enroll(ingest_ctx, hostname="db-02")
    now = clock.now().timestamp()
    svc: IngestService = ingest_ctx.area("ingest")
    stale, fine = svc.authenticate(old), svc.authenticate(other_token)
    _tok, secret = create_enrollment_token(ingest_ctx, "acme", expires_in=3600, once=False, now=now)
    enroll(ingest_ctx, secret, aid, {"hostname": "db-01"}, now)  # same agent, new host token

    def job(caller: object, agent: str) -> Job:
        reports = parse_body(orjson.dumps(report(agent, 1, now)), now=now,
                             limits=ingest_ctx.config.ingest, max_age=3600)
        return Job(caller.host.id, reports, now, digest=caller.digest, auth_gen=caller.generation)  # type: ignore[attr-defined]

    seen: list[int] = []
    writer = GroupCommitWriter(ingest_ctx.engine, lambda _j, _s: None, seen.append)
    jobs = [job(stale, aid), job(fine, other_aid)]
    writer._write(jobs)  # one batch, one transaction
    assert isinstance(jobs[0].result, Unauthorized)
    assert jobs[1].result == [True]
    assert (_stored(ingest_ctx, aid), _stored(ingest_ctx, other_aid)) == (0, 1)
    assert seen
    assert seen[-1] > stale.generation


def test_after_a_start_known_tokens_need_no_query(store_config: CollectorConfig, clock: FixedClock) -> None:
    """The fleet's first requests after a start are answered from the token map loaded at start;
    a revocation after the start is still refused at commit."""
    from sqlalchemy import event

    from collector.errors import Unauthorized
    from tests.collector.conftest import make_ingest_context

    first = make_ingest_context(store_config, clock)
    aid, token = _enroll(first, hostname="app-01")
    other_aid, other_token = _enroll(first, hostname="app-02")
    first.close()

    ctx = make_ingest_context(store_config, clock)  # a restarted collector
    try:
        svc: IngestService = ctx.area("ingest")
        svc.startup()
        statements: list[str] = []
        event.listen(ctx.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        caller = svc.authenticate(token)
        assert statements == []
        assert caller.host.name == "app-01"
        with ctx.engine.begin() as conn:
            inventory.revoke_host(conn, svc.authenticate(other_token).host.id, clock.now().timestamp())
        now = clock.now().timestamp()
        with pytest.raises(Unauthorized):
            _push(ctx, other_token, [report(other_aid, 1, now)], now)
        assert _push(ctx, token, [report(aid, 1, now)], now) == [True]
    finally:
        ctx.close()
