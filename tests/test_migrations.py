"""The versioned migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

import collector.store.tables  # noqa: F401  (registers every table)
from collector.store import reportlog
from collector.store.metadata import metadata
from collector.store.migrate import alembic_config, current_revision, head_revision, upgrade
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


def test_rollups_of_one_row_a_series_become_one_row_a_host_and_bucket(empty_engine: Engine) -> None:
    """0006 keeps every rollup written before it, and its downgrade gives them back."""
    upgrade(empty_engine, "0005")
    old = [("node_load1", "{}", 600, 1.0, 3.0, 4.0, 2, 3.0, 650.0),
           ("node_load1", "{}", 900, 2.0, 2.0, 2.0, 1, 2.0, 910.0),
           ("node_filesystem_avail_bytes", '{"mountpoint":"/"}', 600, 5.0, 9.0, 14.0, 2, 5.0, 660.0)]
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO hosts (id, name, customer, agent_id, labels, facts, checks, agent_version, interval,"
            " first_seen, status) VALUES ('h1', 'db-01', 'acme', 'a1', '{}', '{}', '[]', '', 15, 0, 'up')"
        ))
        for name, labels, bucket, mn, mx, total, n, last, last_ts in old:
            conn.execute(
                text("INSERT INTO rollups VALUES ('h1', :n, :l, :b, :mn, :mx, :s, :c, :last, :lts)"),
                {"n": name, "l": labels, "b": bucket, "mn": mn, "mx": mx, "s": total, "c": n, "last": last,
                 "lts": last_ts},
            )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = reportlog.rollup_rows(conn, "h1", "node_load1", 0, 1200)
        assert conn.execute(text("SELECT count(*) FROM rollup_buckets")).scalar_one() == 2
    assert [(r["bucket"], r["min"], r["max"], r["avg"], r["last"], r["count"]) for r in rows] == [
        (600, 1.0, 3.0, 2.0, 3.0, 2), (900, 2.0, 2.0, 2.0, 2.0, 1)]
    cfg = alembic_config()
    with empty_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    with empty_engine.connect() as conn:
        back = conn.execute(text(
            "SELECT name, labels, bucket, min, max, sum, count, last, last_ts FROM rollups"
        )).all()
    assert sorted(tuple(r) for r in back) == sorted(old)
