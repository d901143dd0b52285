"""Fixtures of the collector's store and ingest tests.

``store_config`` is parametrized over SQLite and a real PostgreSQL, so every test
that takes it (or ``engine``/``ingest_ctx``) runs unchanged on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from collector.config import CollectorConfig, build_config
from collector.core.window import RecentWindow
from collector.ports import FixedClock
from collector.services import AppContext
from collector.services import ingest as ingest_area
from collector.store.engine import open_store
from tests.support.postgres import PostgresServer, running_postgres

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_config(request: pytest.FixtureRequest, tmp_path: Path) -> CollectorConfig:
    data: dict[str, object] = {
        "data_dir": str(tmp_path / "data"),
        "customers": [{"name": "acme"}, {"name": "globex"}],
    }
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        data["storage"] = {"url": server.create_database()}
    return build_config(data)


@pytest.fixture
def engine(store_config: CollectorConfig) -> Iterator[Engine]:
    eng = open_store(store_config)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def make_ingest_context(config: CollectorConfig, clock: FixedClock) -> AppContext:
    """A context with only the ingest area installed (the other areas are tested on their own)."""
    ctx = AppContext(
        config=config, engine=open_store(config), clock=clock, window=RecentWindow(config.retention.window)
    )
    ctx.closers.append(ctx.engine.dispose)
    ingest_area.install(ctx)
    return ctx


@pytest.fixture
def ingest_ctx(store_config: CollectorConfig, clock: FixedClock) -> Iterator[AppContext]:
    ctx = make_ingest_context(store_config, clock)
    yield ctx
    ctx.close()
