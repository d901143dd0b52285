"""Which collector runs the scheduler.

With several collectors on one PostgreSQL database, the leader is the one holding a
session-level advisory lock on a connection of its own (outside any pool, so nothing
else ever uses or recycles it). When the leader dies, PostgreSQL ends its session and
frees the lock, and the next follower to try takes the lead. A leader checks that its
session is still alive before every job it starts, so a collector that lost its
connection stops running jobs at once. SQLite serves exactly one collector, which
always leads.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)


class Leadership(Protocol):
    def try_acquire(self) -> bool:
        """True if this process leads now (taking the lead if it is free)."""
        ...

    def holds(self) -> bool:
        """True if this process still leads (a cheap check before each job)."""
        ...

    def release(self) -> None: ...


class SoleLeader:
    """The single collector of a SQLite database: always the leader."""

    def try_acquire(self) -> bool:
        return True

    def holds(self) -> bool:
        return True

    def release(self) -> None:
        return None


class AdvisoryLockLeader:
    """Leadership through ``pg_try_advisory_lock(key)`` held on a dedicated session."""

    def __init__(self, engine: Engine, key: int) -> None:
        # A private engine without a pool: the lock lives exactly as long as this connection.
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._key = key
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend holding the lock for us (tests end it to simulate a death)."""
        with self._lock:
            if self._conn is None:
                return None
            return int(self._conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def try_acquire(self) -> bool:
        with self._lock:
            if self._conn is not None:
                if self._alive():
                    return True
                self._drop()
            try:
                conn = self._engine.connect()
            except SQLAlchemyError as exc:
                log.warning("scheduler: cannot reach the database to take the lead: %s", exc)
                return False
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
                # The lock belongs to the session, not the transaction: end the transaction so the
                # session does not sit idle in one.
                conn.commit()
            except SQLAlchemyError:
                conn.close()
                return False
            if not got:
                conn.close()
                return False
            self._conn = conn
            log.info("scheduler: this collector leads")
            return True

    def holds(self) -> bool:
        with self._lock:
            if self._conn is None:
                return False
            if self._alive():
                return True
            self._drop()
            return False

    def release(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            except SQLAlchemyError:
                pass
            self._drop()

    def close(self) -> None:
        self.release()
        self._engine.dispose()

    def _alive(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except SQLAlchemyError:
            log.warning("scheduler: the leader's database session ended; no longer leading")
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass


def leadership_for(engine: Engine, key: int) -> Leadership:
    """The advisory lock on PostgreSQL; on SQLite (one collector) always the leader."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLockLeader(engine, key)
    return SoleLeader()
