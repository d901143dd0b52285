"""The report log (every accepted report, kept ``retention.reports``) and 5-minute rollups.

A report row holds the report's samples and checks as one orjson document
(``{"samples": [[name, labels, value], ...], "checks": [...]}``); ``(agent_id, seq)``
is unique, which is what makes a replayed report a no-op.

Rollups keep, per host and 5-minute bucket, one row: for each series its min, max, sum,
count and last value (by sample time), as an orjson list of ``[name, labels, min, max, sum,
count, last, last_ts]`` (``labels`` the sorted-JSON text of the sample labels), kept
``retention.rollups``. They are built from the log past a watermark (``reports.id``), so a
late spool replay still lands in its own bucket; a fold in progress is kept in ``rollup_run``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
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
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from collector.core.rollup import merge
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
    Index("ix_reports_host_id_id", "host_id", "id"),
)

rollups = Table(
    "rollup_buckets",
    metadata,
    Column("host_id", String(32), ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("body", LargeBinary, nullable=False),
    Index("ix_rollup_buckets_bucket", "bucket"),
)

rollup_run = Table(
    "rollup_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("upto", BigInteger, nullable=False),
    Column("after_host", String(32), nullable=False),
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
    received_at: float = 0.0


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
        row.received_at,
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


def last_report_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(reports.c.id))).scalar() or 0)


def host_reports(
    conn: Connection, host_ids: Sequence[str], after_id: int, upto_id: int
) -> Iterator[tuple[str, Iterator[tuple[float, list[Any]]]]]:
    """Per host of ``host_ids`` (those with any), its logged ``(ts, samples)`` with id in
    (after_id, upto_id], in log order (through ``ix_reports_host_id_id``: one seek a host).

    Streamed: each body is decoded when its report is reached, so a reader that folds as it
    goes holds one report's objects at a time, not a chunk's (hundreds of thousands of small
    objects, which the garbage collector would walk again and again). Consume each host's
    reports before the next host, and all of it while ``conn`` is open.
    """
    q = (
        select(reports.c.host_id, reports.c.ts, reports.c.body)
        .where(reports.c.host_id.in_(host_ids), reports.c.id > after_id, reports.c.id <= upto_id)
        .order_by(reports.c.host_id, reports.c.id)
    )
    for host_id, rows in groupby(conn.execute(q), key=itemgetter(0)):
        yield host_id, ((ts, orjson.loads(body)["samples"]) for _, ts, body in rows)


def delete_reports_before(conn: Connection, ts: float) -> int:
    return int(conn.execute(delete(reports).where(reports.c.ts < ts)).rowcount or 0)


def delete_rollups_before(conn: Connection, bucket: int) -> int:
    return int(conn.execute(delete(rollups).where(rollups.c.bucket < bucket)).rowcount or 0)


def count_reports(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(reports)).scalar_one())


# -- rollups ---------------------------------------------------------------------------------------
RollupKey = tuple[str, int]  # (host id, bucket)
# (name, labels text) -> [min, max, sum, count, last, last_ts]
SeriesAggs = dict[tuple[str, str], list[float]]


def merge_rollups(conn: Connection, aggs: dict[tuple[str, str, str, int], list[float]]) -> None:
    """Merge aggregates ``(host, name, labels text, bucket) -> [min, max, sum, count, last,
    last_ts]`` into the rollups (see ``merge_buckets``)."""
    grouped: dict[RollupKey, SeriesAggs] = {}
    for (host_id, name, labels, bucket), agg in aggs.items():
        grouped.setdefault((host_id, bucket), {})[(name, labels)] = agg
    merge_buckets(conn, grouped)


def merge_buckets(conn: Connection, buckets: dict[RollupKey, SeriesAggs]) -> None:
    """Merge each (host, bucket)'s series aggregates into its row: a bucket seen again (a late
    report, or the next run) is merged, not duplicated. Call in a transaction that already
    holds the write lock, so nothing changes a row between its read and its write."""
    if not buckets:
        return
    keys = list(buckets)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        have = {
            (r.host_id, int(r.bucket)): r.body
            for r in conn.execute(
                select(rollups.c.host_id, rollups.c.bucket, rollups.c.body).where(
                    tuple_(rollups.c.host_id, rollups.c.bucket).in_(part)
                )
            )
        }
        for key in part:
            new = buckets[key]
            old = have.get(key)
            if old is not None:
                merged = {(e[0], e[1]): e[2:] for e in orjson.loads(old)}
                for skey, agg in new.items():
                    into = merged.get(skey)
                    if into is None:
                        merged[skey] = agg
                    else:
                        merge(into, agg)
                new = merged
            body = orjson.dumps([[name, labels, *agg] for (name, labels), agg in new.items()])
            rows.append({"host_id": key[0], "bucket": key[1], "body": body})
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert_fn(rollups)
    stmt = stmt.on_conflict_do_update(
        index_elements=[rollups.c.host_id, rollups.c.bucket], set_={"body": stmt.excluded.body}
    )
    for i in range(0, len(rows), 1000):
        conn.execute(stmt, rows[i : i + 1000])


def rollup_rows(conn: Connection, host_id: str, name: str, start: float, end: float) -> list[dict[str, Any]]:
    """Rollups of one host's series named ``name`` with bucket start in [start, end), by label
    set, then in time order."""
    q = (
        select(rollups.c.bucket, rollups.c.body)
        .where(rollups.c.host_id == host_id, rollups.c.bucket >= int(start), rollups.c.bucket < int(end))
        .order_by(rollups.c.bucket)
    )
    found: list[tuple[str, int, list[Any]]] = []
    for bucket, body in conn.execute(q):
        for e in orjson.loads(body):
            if e[0] == name:
                found.append((e[1], int(bucket), e))
    found.sort(key=lambda f: (f[0], f[1]))
    return [
        {
            "labels": orjson.loads(labels),
            "bucket": bucket,
            "min": e[2],
            "max": e[3],
            "avg": e[4] / e[5] if e[5] else 0.0,
            "last": e[6],
            "count": int(e[5]),
        }
        for labels, bucket, e in found
    ]


# -- a fold in progress --------------------------------------------------------------------------
def rollup_progress(conn: Connection) -> tuple[int, str] | None:
    """(upto, after_host) of the fold in progress, or None."""
    row = conn.execute(select(rollup_run.c.upto, rollup_run.c.after_host).where(rollup_run.c.id == 1)).first()
    return (int(row.upto), row.after_host) if row is not None else None


def start_rollup_run(conn: Connection, upto: int) -> None:
    conn.execute(insert(rollup_run).values(id=1, upto=upto, after_host=""))


def advance_rollup_run(conn: Connection, after_host: str) -> None:
    conn.execute(update(rollup_run).where(rollup_run.c.id == 1).values(after_host=after_host))


def end_rollup_run(conn: Connection) -> None:
    conn.execute(delete(rollup_run).where(rollup_run.c.id == 1))
