"""Opening the store: one SQLAlchemy engine for SQLite (the default) or PostgreSQL.

SQLite lives in ``<data_dir>/upkeep.db`` in WAL mode, so readers never wait for the
ingest writer. Its ``synchronous`` setting is ``storage.sqlite_synchronous``:

- ``FULL`` (default): the WAL is synced at every commit, so an acknowledged report
  survives a power cut. Ingest groups many reports into one commit, so this costs one
  fsync per batch, not one per report.
- ``NORMAL``: survives a crash of the process (kill -9) but the last commits may be
  lost if the machine loses power.

PostgreSQL is used when ``storage.url`` is set (``postgresql+psycopg://...``, psycopg 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from collector.config import CollectorConfig
from collector.errors import ConfigError

SQLITE_FILE = "upkeep.db"
BUSY_TIMEOUT_MS = 10_000


def sqlite_path(config: CollectorConfig) -> Path:
    return Path(config.data_dir) / SQLITE_FILE


def create_engine_for(config: CollectorConfig) -> Engine:
    """The engine the configuration names; raises ConfigError for an unusable ``storage.url``."""
    url = config.storage.url
    if url:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigError("storage.url", "not a database URL") from None
        if parsed.get_backend_name() == "postgresql":
            if parsed.get_driver_name() not in ("psycopg", ""):
                raise ConfigError("storage.url", "use postgresql+psycopg:// (psycopg 3)")
            parsed = parsed.set(drivername="postgresql+psycopg")
            return create_engine(
                parsed,
                pool_size=config.storage.pool_size,
                max_overflow=config.storage.pool_size,
                pool_pre_ping=True,
            )
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(str(parsed), config.storage.sqlite_synchronous)
        raise ConfigError("storage.url", "only sqlite and postgresql+psycopg are supported")
    data_dir = Path(config.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("data_dir", f"cannot create {data_dir}: {exc.strerror}") from None
    return _sqlite_engine(f"sqlite:///{sqlite_path(config)}", config.storage.sqlite_synchronous)


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite opens transactions lazily and would let a read upgrade to a write
        # mid-transaction; setting pragmas outside any transaction needs autocommit here.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def open_store(config: CollectorConfig) -> Engine:
    """An engine with every migration applied (what the server and the CLI start from)."""
    from collector.store.migrate import upgrade

    engine = create_engine_for(config)
    upgrade(engine)
    return engine


def store_size_bytes(engine: Engine) -> int:
    """Bytes the database takes on disk (SQLite files with their WAL, or pg_database_size)."""
    if engine.dialect.name == "sqlite":
        db = engine.url.database
        if not db:
            return 0
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(db + suffix)
            if p.exists():
                total += p.stat().st_size
        return total
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
