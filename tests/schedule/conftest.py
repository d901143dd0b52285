"""Fixtures of the scheduled-work tests: migrated SQLite and PostgreSQL stores, and the clock."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from collector.store.migrate import upgrade
from tests.support import free_port, missing

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'upkeep.db'}", connect_args={"check_same_thread": False})
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A real PostgreSQL 15 on 127.0.0.1 for the session; yields its admin URL."""
    try:
        from tests.support.postgres import postgres_url  # type: ignore[import-not-found]
    except ImportError:
        postgres_url = None
    if postgres_url is not None:
        with postgres_url() as url:
            yield url
        return
    if not (PG_BIN / "postgres").exists():
        missing("postgresql 15")
    runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="upkeep-pg-"))
    data = base / "data"
    if runner:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run([*runner, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*runner, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                             "-h", "127.0.0.1", "-k", str(base), "-c", "fsync=off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    probe = create_engine(url)
    deadline = time.monotonic() + 60
    while True:
        try:
            with probe.connect():
                break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)  # waiting for a server to start, not for a deadline under test
    probe.dispose()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_engine(pg_server: str) -> Iterator[Engine]:
    """A fresh, migrated database on the session's PostgreSQL."""
    name = f"sched_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(pg_server.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
