"""A real PostgreSQL server for the store tests (one per test session).

initdb and postgres refuse to run as root, so as root they run as the ``postgres``
user (``runuser -u postgres --``) in a temporary directory that user owns. The
server listens on 127.0.0.1 and a free port with trust authentication (nothing else
can reach it) and fsync off (the tests check behaviour, not power-loss durability).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port, missing

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


def pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for c in PG_BIN_CANDIDATES:
        if Path(c, "initdb").exists() and Path(c, "postgres").exists():
            return Path(c)
    return None


@dataclass
class PostgresServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    bin_dir: Path
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start PostgreSQL (skips on a laptop without it, fails under CI) and stop it afterwards."""
    bin_dir = pg_bin()
    if bin_dir is None:
        missing("PostgreSQL (initdb, postgres)")
        raise AssertionError("unreachable")
    root = Path(tempfile.mkdtemp(prefix="upkeep-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    sock = root / "sock"
    subprocess.run([*as_user, "mkdir", "-p", str(sock)], check=True, capture_output=True)
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = open(root / "postgres.log", "wb")  # noqa: SIM115  (kept open for the server's life)
    process = subprocess.Popen(
        [
            *as_user,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sock),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PostgresServer(root, port, process, bin_dir, as_user)
    try:
        _wait_ready(server)
        yield server
    finally:
        server.stop()
        log.close()


def _wait_ready(server: PostgresServer, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            text = (server.root / "postgres.log").read_text(errors="replace")
            raise RuntimeError(f"postgres exited: {text[-2000:]}")
        try:
            with psycopg.connect(
                f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", connect_timeout=2
            ):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
