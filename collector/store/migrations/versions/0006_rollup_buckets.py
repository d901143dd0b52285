"""rollups: one row per host and 5-minute bucket; the report log indexed by host

Revision ID: 0006
Revises: 0005

A fleet's rollups were a row per host, series and bucket: 60 series a host made a bucket of
30,000 hosts 1.8 million rows, and folding them held the write lock for seconds. A row now
holds a host's whole bucket (its series' aggregates as one orjson document), and the fold
reads the log host by host through ``ix_reports_host_id_id``.
"""

from alembic import op
import orjson
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COPY_BATCH = 1000


def upgrade() -> None:
    op.create_index("ix_reports_host_id_id", "reports", ["host_id", "id"])
    op.create_table(
        "rollup_buckets",
        sa.Column("host_id", sa.String(32), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("host_id", "bucket", name="pk_rollup_buckets"),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_rollup_buckets_host_id_hosts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_rollup_buckets_bucket", "rollup_buckets", ["bucket"])
    # A fold in progress: the log rows up to ``upto`` past the watermark, hosts after ``after_host``
    # still to do. No row: none in progress.
    op.create_table(
        "rollup_run",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("upto", sa.BigInteger, nullable=False),
        sa.Column("after_host", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_run"),
    )
    _copy_rollups()
    op.drop_index("ix_rollups_bucket", table_name="rollups")
    op.drop_table("rollups")


def _copy_rollups() -> None:
    """The old per-series rows, grouped into one row per host and bucket (streamed in key order)."""
    conn = op.get_bind()
    old = sa.table(
        "rollups", *(sa.column(c) for c in (
            "host_id", "name", "labels", "bucket", "min", "max", "sum", "count", "last", "last_ts"))
    )
    new = sa.table("rollup_buckets", sa.column("host_id"), sa.column("bucket"), sa.column("body"))
    rows = conn.execute(sa.select(old).order_by(old.c.host_id, old.c.bucket, old.c.name, old.c.labels))
    out: list[dict[str, object]] = []
    key: tuple[str, int] | None = None
    series: list[list[object]] = []
    for r in rows:
        if (r.host_id, r.bucket) != key:
            if key is not None:
                out.append({"host_id": key[0], "bucket": key[1], "body": orjson.dumps(series)})
            key, series = (r.host_id, int(r.bucket)), []
        series.append([r.name, r.labels, r.min, r.max, r.sum, int(r.count), r.last, r.last_ts])
        if len(out) >= _COPY_BATCH:
            conn.execute(sa.insert(new), out)
            out = []
    if key is not None:
        out.append({"host_id": key[0], "bucket": key[1], "body": orjson.dumps(series)})
    if out:
        conn.execute(sa.insert(new), out)


def downgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("host_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
        sa.Column("last_ts", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("host_id", "name", "labels", "bucket", name="pk_rollups"),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_rollups_host_id_hosts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_rollups_bucket", "rollups", ["bucket"])
    conn = op.get_bind()
    new = sa.table("rollup_buckets", sa.column("host_id"), sa.column("bucket"), sa.column("body"))
    old = sa.table(
        "rollups", *(sa.column(c) for c in (
            "host_id", "name", "labels", "bucket", "min", "max", "sum", "count", "last", "last_ts"))
    )
    out: list[dict[str, object]] = []
    for r in conn.execute(sa.select(new)):
        for name, labels, mn, mx, total, n, last, last_ts in orjson.loads(r.body):
            out.append({"host_id": r.host_id, "name": name, "labels": labels, "bucket": r.bucket, "min": mn,
                        "max": mx, "sum": total, "count": n, "last": last, "last_ts": last_ts})
        if len(out) >= _COPY_BATCH:
            conn.execute(sa.insert(old), out)
            out = []
    if out:
        conn.execute(sa.insert(old), out)
    op.drop_table("rollup_run")
    op.drop_index("ix_rollup_buckets_bucket", table_name="rollup_buckets")
    op.drop_table("rollup_buckets")
    op.drop_index("ix_reports_host_id_id", table_name="reports")
