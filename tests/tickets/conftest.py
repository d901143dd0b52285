from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collector.app import build_context
from collector.config import build_config
from collector.ports import FixedClock
from collector.services import AppContext

# Thursday 26 November 2026, 10:00 UTC.
START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

BASE: dict[str, Any] = {
    "customers": [
        {"name": "acme", "timezone": "UTC", "contract": {"team_lead": "boss"}},
        {"name": "globex", "timezone": "Asia/Shanghai", "contract": {"window": "5x8", "holidays": "CN"}},
    ],
    "engineers": [
        {"name": "li", "skills": ["linux"], "email": "li@example.test"},
        {"name": "wang", "skills": ["linux", "oracle"], "email": "wang@example.test"},
        {"name": "boss", "role": "lead", "email": "boss@example.test"},
        {"name": "sage", "role": "expert", "email": "sage@example.test"},
        {"name": "chief", "role": "manager", "email": "chief@example.test"},
    ],
    "alerting": {"shipped_rules": False},
}


@pytest.fixture
def make_ctx(tmp_path: Path) -> Iterator[Callable[..., tuple[AppContext, FixedClock]]]:
    yield from _contexts(tmp_path, {})


def _contexts(
    tmp_path: Path, storage: dict[str, Any]
) -> Iterator[Callable[..., tuple[AppContext, FixedClock]]]:
    """A factory of full contexts over one data directory (and ``storage``), closed afterwards."""
    made: list[AppContext] = []

    def make(extra: dict[str, Any] | None = None, start: datetime = START) -> tuple[AppContext, FixedClock]:
        data = {**BASE, "data_dir": str(tmp_path / "data"), **storage, **(extra or {})}
        clock = FixedClock(start)
        ctx = build_context(build_config(data), clock)
        made.append(ctx)
        return ctx, clock

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    from tests.support.postgres import running_postgres

    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_ctx(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., tuple[AppContext, FixedClock]]]:
    """Like make_ctx, on SQLite and on a real PostgreSQL: the same contract on every backend."""
    storage: dict[str, Any] = {}
    if request.param == "postgres":
        storage = {"storage": {"url": request.getfixturevalue("pg_server").create_database()}}
    yield from _contexts(tmp_path, storage)
