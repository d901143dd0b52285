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
    case,
    delete,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
    samples: list[Any]  # each [name, labels, value]
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
        body["samples"],  # [name, labels, value] lists: unpacked like tuples by every reader
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


_MAX_SEQ_SQL = {
    "sqlite": "SELECT max(seq) FROM reports WHERE agent_id = ?",
    "postgresql": "SELECT max(seq) FROM reports WHERE agent_id = %s",
}


def max_seq(conn: Connection, agent_id: str) -> int:
    """The agent's highest stored seq, 0 for none (one index probe; asked once per agent, so a
    fleet's first reports after a start run it thousands of times: on the driver directly)."""
    sql = _MAX_SEQ_SQL.get(conn.dialect.name)
    if sql is None:
        v = conn.execute(select(func.max(reports.c.seq)).where(reports.c.agent_id == agent_id)).scalar()
    else:
        v = conn.exec_driver_sql(sql, (agent_id,)).scalar()
    return int(v) if v is not None else 0


# The hot path: one executemany on the driver, without SQLAlchemy building a parameter set per
# row (that cost more than the insert itself). Other dialects take the ordinary statement.
_INSERT_SQL = {
    "sqlite": "INSERT INTO reports (host_id, agent_id, seq, ts, received_at, body) VALUES (?, ?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO reports (host_id, agent_id, seq, ts, received_at, body)"
    " VALUES (%s, %s, %s, %s, %s, %s)",
}


def insert_reports(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of host_id, agent_id, seq, ts, received_at, body (checked new by the caller).

    A clash on ``(agent_id, seq)`` raises ``IntegrityError`` as with any statement."""
    if not rows:
        return
    sql = _INSERT_SQL.get(conn.dialect.name)
    if sql is None:
        conn.execute(insert(reports), rows)
        return
    conn.exec_driver_sql(
        sql,
        [(r["host_id"], r["agent_id"], r["seq"], r["ts"], r["received_at"], r["body"]) for r in rows],
    )


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
    """Merge aggregates ``key -> [min, max, sum, count, last, last_ts]`` into the rollups table.

    One upsert statement for all rows (both SQLite and PostgreSQL have ON CONFLICT), so a
    bucket seen again (a late report, or the next run) is merged, not duplicated.
    """
    if not aggs:
        return
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert_fn(rollups)
    ex = stmt.excluded
    newer = ex.last_ts >= rollups.c.last_ts
    stmt = stmt.on_conflict_do_update(
        index_elements=[rollups.c.host_id, rollups.c.name, rollups.c.labels, rollups.c.bucket],
        set_={
            "min": case((ex.min < rollups.c.min, ex.min), else_=rollups.c.min),
            "max": case((ex.max > rollups.c.max, ex.max), else_=rollups.c.max),
            "sum": rollups.c.sum + ex.sum,
            "count": rollups.c.count + ex.count,
            "last": case((newer, ex.last), else_=rollups.c.last),
            "last_ts": case((newer, ex.last_ts), else_=rollups.c.last_ts),
        },
    )
    rows = [
        {
            "host_id": k[0],
            "name": k[1],
            "labels": k[2],
            "bucket": k[3],
            "min": a[0],
            "max": a[1],
            "sum": a[2],
            "count": int(a[3]),
            "last": a[4],
            "last_ts": a[5],
        }
        for k, a in aggs.items()
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(stmt, rows[i : i + 5000])


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
