"""The run store, unchanged on SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from collector.config import build_config
from collector.store import remote as store
from collector.store.engine import open_store
from collector.store.remote import HostRecord, Run, StepRecord
from tests.support.postgres import PostgresServer, running_postgres


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    data: dict[str, object] = {"data_dir": str(tmp_path / "data")}
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        data["storage"] = {"url": server.create_database()}
    eng = open_store(build_config(data))
    yield eng
    eng.dispose()


def _store(engine: Engine, run_id: str, started: float, hosts: list[tuple[str, str, str]]) -> None:
    with engine.begin() as conn:
        store.insert_run(conn, Run(id=run_id, playbook="disk-usage", trigger="manual", status="running",
                                   started_at=started, params={"path": "/"}))
    for host, customer, status in hosts:
        steps = [StepRecord(step="usage", command="df -P /", verdict="passed", exit_code=0, duration=0.1,
                            output="93%", captured={"use": 93, "rows": [{"mount": "/"}]})]
        record = HostRecord(host=host, customer=customer, status=status, finished_at=started + 1,
                            findings=[{"name": "full", "severity": "critical", "text": "/ is 93 % full",
                                       "values": {"use": 93}}],
                            steps=steps if status == "passed" else [])
        with engine.begin() as conn:
            store.insert_host_result(conn, run_id, record)
    with engine.begin() as conn:
        store.finish_run(conn, run_id, status="finished", finished_at=started + 2,
                         summary={"passed": len(hosts)})


def test_runs_round_trip_and_scope(engine: Engine) -> None:
    a, b = "a" * 32, "b" * 32
    _store(engine, a, 1000.0, [("web-01", "acme", "passed"), ("db-01", "globex", "unreachable")])
    _store(engine, b, 2000.0, [("db-01", "globex", "passed")])
    with engine.connect() as conn:
        assert [r.id for r in store.list_runs(conn)] == [b, a]
        assert [r.id for r in store.list_runs(conn, customers=["acme"])] == [a]
        assert [r.id for r in store.list_runs(conn, host="db-01")] == [b, a]
        assert store.list_runs(conn, host="db-01", customers=["acme"]) == []
        run = store.get_run(conn, a)
        assert run is not None
        assert run.params == {"path": "/"}
        assert run.summary == {"passed": 2}
        assert [(h.host, h.status) for h in run.hosts] == [("db-01", "unreachable"), ("web-01", "passed")]
        web = run.hosts[1]
        assert web.steps[0].captured == {"use": 93, "rows": [{"mount": "/"}]}
        assert web.findings[0]["values"] == {"use": 93}
        scoped = store.get_run(conn, a, customers=["acme"])
        assert scoped is not None
        assert [h.host for h in scoped.hosts] == ["web-01"]
        assert store.get_run(conn, b, customers=["acme"]) is None
        assert store.get_run(conn, "c" * 32) is None
        record = store.runs_for_host(conn, "db-01")
        assert [(r["run_id"], r["status"], r["worst"]) for r in record] == [
            (b, "passed", "critical"), (a, "unreachable", "critical")]
