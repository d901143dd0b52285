"""schedule: inspections, reports, scheduler jobs

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # The shape of APScheduler's SQLAlchemyJobStore table (it finds it and leaves it alone).
    op.create_table(
        "scheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25)),
        sa.Column("job_state", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs", ["next_run_time"])
    op.create_table(
        "scheduled_runs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(191), nullable=False),
        sa.Column("scheduled_for", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("runner", sa.String(128), nullable=False),
        sa.UniqueConstraint("job_id", "scheduled_for", name="uq_scheduled_runs_slot"),
    )
    op.create_table(
        "inspections",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("period_start", sa.Float, nullable=False),
        sa.Column("period_end", sa.Float, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("hosts", sa.JSON, nullable=False),
        sa.Column("run_ids", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )
    op.create_index("ix_inspections_customer", "inspections", ["customer"])
    op.create_table(
        "inspection_findings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("inspection_id", _ID, sa.ForeignKey("inspections.id", ondelete="CASCADE",
                                                      name="fk_inspection_findings_inspection_id_inspections"),
                  nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("recommendation", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("ticket", sa.String(64), nullable=True),
    )
    op.create_index("ix_inspection_findings_inspection_id", "inspection_findings", ["inspection_id"])
    op.create_index("ix_inspection_findings_host", "inspection_findings", ["host"])
    op.create_table(
        "service_reports",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer", sa.String(64), nullable=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("inspection_id", _ID, sa.ForeignKey("inspections.id", ondelete="CASCADE",
                                                      name="fk_service_reports_inspection_id_inspections"),
                  nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("json", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
    )
    op.create_index("ix_service_reports_customer", "service_reports", ["customer"])
    op.create_index("ix_service_reports_inspection_id", "service_reports", ["inspection_id"])


def downgrade() -> None:
    op.drop_table("service_reports")
    op.drop_table("inspection_findings")
    op.drop_table("inspections")
    op.drop_table("scheduled_runs")
    op.drop_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs")
    op.drop_table("scheduler_jobs")
