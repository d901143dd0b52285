"""docs/operations.md's SQLite backup and restore, done on a running collector as the guide says."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.collector import Collector

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
