"""docs/operations.md's SQLite backup and restore, done on a running collector as the guide says."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import require_binary
from tests.support.collector import Collector
from tests.support.postgres import PG_BIN_CANDIDATES, running_postgres

CONFIG: dict[str, Any] = {"customers": [{"name": "acme", "contract": {"window": "7x24"}}]}


def open_ticket(c: Collector, admin: str, title: str) -> str:
    r = httpx.post(
        f"{c.base_url}/api/v1/tickets",
        json={"customer": "acme", "title": title},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


def online_backup(database: Path, target: Path) -> None:
    """The guide's `python3 -c` line: SQLite's backup API, while the collector writes."""
    source = sqlite3.connect(database)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


@pytest.mark.slow
def test_an_online_backup_restores_tickets_and_tokens(tmp_path: Path) -> None:
    first = Collector(tmp_path / "site", CONFIG)
    first.start()
    try:
        admin = first.token("admin", name="ops")
        kept = open_ticket(first, admin, "before the backup")
        online_backup(first.data_dir / "upkeep.db", tmp_path / "backup.db")
        lost = open_ticket(first, admin, "after the backup")
    finally:
        first.stop()
    # Restore as the guide says: stopped, the backup copied in, the old WAL and shared memory gone.
    for leftover in ("upkeep.db-wal", "upkeep.db-shm"):
        (first.data_dir / leftover).unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "backup.db", first.data_dir / "upkeep.db")
    first.start()
    try:
        # The admin token was in the backup (stored hashed): it still works.
        r = httpx.get(
            f"{first.base_url}/api/v1/tickets",
            params={"customer": "acme"},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        numbers = {t["number"] for t in (body["tickets"] if isinstance(body, dict) else body)}
        assert kept in numbers
        assert lost not in numbers
    finally:
        first.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_pg_dump_and_pg_restore_carry_a_site_over(tmp_path: Path) -> None:
    with running_postgres() as pg:
        source_url = pg.create_database()
        site = Collector(tmp_path / "site", {**CONFIG, "storage": {"url": source_url}})
        site.start()
        try:
            admin = site.token("admin", name="ops")
            kept = open_ticket(site, admin, "before the dump")
            dump = tmp_path / "upkeep.dump"
            libpq = source_url.replace("postgresql+psycopg://", "postgresql://")
            run([pg_tool("pg_dump"), "--format=custom", f"--file={dump}", libpq])
        finally:
            site.stop()
        target_url = pg.create_database()
        run(
            [
                pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                f"--dbname={target_url.replace('postgresql+psycopg://', 'postgresql://')}",
                str(dump),
            ]
        )
        restored = Collector(tmp_path / "restored", {**CONFIG, "storage": {"url": target_url}})
        restored.start()
        try:
            r = httpx.get(
                f"{restored.base_url}/api/v1/tickets",
                params={"customer": "acme"},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert kept in {t["number"] for t in (body["tickets"] if isinstance(body, dict) else body)}
        finally:
            restored.stop()


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv[0]}: {done.stderr}"


def pg_tool(name: str) -> str:
    return require_binary(name, *(f"{d}/{name}" for d in PG_BIN_CANDIDATES))
