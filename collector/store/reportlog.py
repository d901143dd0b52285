"""The report log (every accepted report, kept ``retention.reports``) and 5-minute rollups.

A report row holds the report's samples and checks as one orjson document
(``{"samples": [[name, labels, value], ...], "checks": [...]}``); ``(agent_id, seq)``
is unique, which is what makes a replayed report a no-op.

Rollups keep, per host, series and 5-minute bucket: min, max, sum, count and the
last value (by sample time), for ``retention.rollups``. They are built from the log
in log order (``reports.id``) past a watermark, so a late spool replay still lands
in its own bucket.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection

from collector.store.metadata import metadata

ROLLUP_STEP = 300

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants a bigint.
_ID = BigInteger().with_variant(Integer(), "sqlite")

reports = Table(
    "reports",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("host_id", String(32), ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("body", LargeBinary, nullable=False),
    UniqueConstraint("agent_id", "seq", name="uq_reports_agent_seq"),
    Index("ix_reports_ts", "ts"),
)

rollups = Table(
    "rollups",
    metadata,
    Column("host_id", String(32), ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("labels", Text, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("sum", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last", Float, nullable=False),
    Column("last_ts", Float, nullable=False),
    Index("ix_rollups_bucket", "bucket"),
)


@dataclass(frozen=True)
class LoggedReport:
    id: int
    host_id: str
    agent_id: str
    seq: int
    ts: float
    samples: list[tuple[str, dict[str, str], float]]
    checks: list[dict[str, Any]]


def encode_body(
    samples: Sequence[tuple[str, dict[str, str], float]], checks: Sequence[dict[str, Any]]
) -> bytes:
    return orjson.dumps({"samples": samples, "checks": checks})


def _decode(row: Any) -> LoggedReport:
    body = orjson.loads(row.body)
    return LoggedReport(
        row.id,
        row.host_id,
        row.agent_id,
        row.seq,
        row.ts,
        [(s[0], s[1], s[2]) for s in body["samples"]],
        body.get("checks", []),
    )


def existing(conn: Connection, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of these (agent_id, seq) are already in the log."""
    found: set[tuple[str, int]] = set()
    for i in range(0, len(keys), 400):
        chunk = keys[i : i + 400]
        q = select(reports.c.agent_id, reports.c.seq).where(
            tuple_(reports.c.agent_id, reports.c.seq).in_(chunk)
        )
        found.update((r[0], int(r[1])) for r in conn.execute(q))
    return found


def max_seq(conn: Connection, agent_id: str) -> int:
    v = conn.execute(select(func.max(reports.c.seq)).where(reports.c.agent_id == agent_id)).scalar()
    return int(v) if v is not None else 0


def insert_reports(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of host_id, agent_id, seq, ts, received_at, body (checked new by the caller)."""
    if rows:
        conn.execute(insert(reports), rows)


def reports_page(conn: Connection, after: tuple[float, int], limit: int) -> list[LoggedReport]:
    """Up to ``limit`` reports after ``(ts, id)`` in (sample time, id) order."""
    q = (
        select(reports)
        .where(tuple_(reports.c.ts, reports.c.id) > after)
        .order_by(reports.c.ts, reports.c.id)
        .limit(limit)
    )
    return [_decode(r) for r in conn.execute(q)]


def reports_since(conn: Connection, ts: float, *, batch: int = 2000) -> Iterator[LoggedReport]:
    """Reports with sample time >= ts, in time order (what rebuilds the recent window)."""
    after = (ts, -1)
    while True:
        page = reports_page(conn, after, batch)
        if not page:
            return
        yield from page
        after = (page[-1].ts, page[-1].id)


def reports_after_id(conn: Connection, after_id: int, limit: int) -> list[LoggedReport]:
    q = select(reports).where(reports.c.id > after_id).order_by(reports.c.id).limit(limit)
    return [_decode(r) for r in conn.execute(q)]


def delete_reports_before(conn: Connection, ts: float) -> int:
    return int(conn.execute(delete(reports).where(reports.c.ts < ts)).rowcount or 0)


def delete_rollups_before(conn: Connection, bucket: int) -> int:
    return int(conn.execute(delete(rollups).where(rollups.c.bucket < bucket)).rowcount or 0)


def count_reports(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(reports)).scalar_one())


def merge_rollups(conn: Connection, aggs: dict[tuple[str, str, str, int], list[float]]) -> None:
    """Merge aggregates ``key -> [min, max, sum, count, last, last_ts]`` into the rollups table."""
    if not aggs:
        return
    keys = list(aggs)
    have: dict[tuple[str, str, str, int], Any] = {}
    for i in range(0, len(keys), 200):
        chunk = keys[i : i + 200]
        q = select(rollups).where(
            tuple_(rollups.c.host_id, rollups.c.name, rollups.c.labels, rollups.c.bucket).in_(chunk)
        )
        for r in conn.execute(q):
            have[(r.host_id, r.name, r.labels, int(r.bucket))] = r
    new_rows = []
    for key, (mn, mx, sm, cnt, last, last_ts) in aggs.items():
        old = have.get(key)
        if old is None:
            new_rows.append(
                {
                    "host_id": key[0],
                    "name": key[1],
                    "labels": key[2],
                    "bucket": key[3],
                    "min": mn,
                    "max": mx,
                    "sum": sm,
                    "count": int(cnt),
                    "last": last,
                    "last_ts": last_ts,
                }
            )
            continue
        newer = last_ts >= old.last_ts
        conn.execute(
            rollups.update()
            .where(
                rollups.c.host_id == key[0],
                rollups.c.name == key[1],
                rollups.c.labels == key[2],
                rollups.c.bucket == key[3],
            )
            .values(
                min=min(mn, old.min),
                max=max(mx, old.max),
                sum=sm + old.sum,
                count=int(cnt) + int(old.count),
                last=last if newer else old.last,
                last_ts=last_ts if newer else old.last_ts,
            )
        )
    if new_rows:
        conn.execute(insert(rollups), new_rows)


def rollup_rows(conn: Connection, host_id: str, name: str, start: float, end: float) -> list[dict[str, Any]]:
    """Rollups of one host's series named ``name`` with bucket start in [start, end), in time order."""
    q = (
        select(rollups)
        .where(
            rollups.c.host_id == host_id,
            rollups.c.name == name,
            rollups.c.bucket >= int(start),
            rollups.c.bucket < int(end),
        )
        .order_by(rollups.c.labels, rollups.c.bucket)
    )
    out = []
    for r in conn.execute(q):
        out.append(
            {
                "labels": orjson.loads(r.labels),
                "bucket": int(r.bucket),
                "min": r.min,
                "max": r.max,
                "avg": r.sum / r.count if r.count else 0.0,
                "last": r.last,
                "count": int(r.count),
            }
        )
    return out
