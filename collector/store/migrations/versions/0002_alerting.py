"""alerting: alert state

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts_active",
        sa.Column("rule", sa.String(512), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("alertname", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("active_at", sa.Float, nullable=False),
        sa.Column("fired_at", sa.Float, nullable=True),
        sa.Column("keep_firing_since", sa.Float, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("customer", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("rule", "fingerprint", name="pk_alerts_active"),
    )
    op.create_index("ix_alerts_active_customer", "alerts_active", ["customer"])
    op.create_table(
        "alert_changes",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("alertname", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("active_at", sa.Float, nullable=False),
        sa.Column("fired_at", sa.Float, nullable=True),
        sa.Column("resolved_at", sa.Float, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("customer", sa.String(64), nullable=True),
        sa.Column("delivered_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_changes"),
    )
    op.create_index("ix_alert_changes_fingerprint", "alert_changes", ["fingerprint"])
    op.create_index("ix_alert_changes_customer", "alert_changes", ["customer"])
    op.create_index("ix_alert_changes_delivered_at", "alert_changes", ["delivered_at"])


def downgrade() -> None:
    op.drop_table("alert_changes")
    op.drop_table("alerts_active")
