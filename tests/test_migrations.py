"""The versioned migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine

import collector.store.tables  # noqa: F401  (registers every table)
from collector.store.metadata import metadata
from collector.store.migrate import current_revision, head_revision, upgrade
from tests.support.postgres import running_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    with running_postgres() as server:
        engine = create_engine(server.url(server.create_database().rsplit("/", 1)[1]))
        yield engine
        engine.dispose()


def test_migrations_match_the_declared_tables(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"the migrations and the table declarations disagree: {diff}"
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_upgrade_twice_is_a_no_op(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
