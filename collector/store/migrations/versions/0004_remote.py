"""remote: playbook runs, each host's result, each step's result

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("playbook", sa.String(128), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_playbook_runs"),
    )
    op.create_index("ix_playbook_runs_ticket_id", "playbook_runs", ["ticket_id"])
    op.create_index("ix_playbook_runs_started_at", "playbook_runs", ["started_at"])
    op.create_table(
        "run_hosts",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_hosts"),
    )
    op.create_index("ix_run_hosts_run_id", "run_hosts", ["run_id"])
    op.create_index("ix_run_hosts_host", "run_hosts", ["host"])
    op.create_index("ix_run_hosts_customer", "run_hosts", ["customer"])
    op.create_table(
        "run_steps",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("run_host_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("captured", sa.JSON, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_steps"),
    )
    op.create_index("ix_run_steps_run_host_id", "run_steps", ["run_host_id"])


def downgrade() -> None:
    op.drop_table("run_steps")
    op.drop_table("run_hosts")
    op.drop_table("playbook_runs")
