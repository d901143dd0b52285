"""tickets: tickets, events, SLA marks, surveys, engineers, maintenance, outbox

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=True),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=True),
        sa.Column("alertname", sa.String(255), nullable=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("contact", sa.JSON, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("cycle_started_at", sa.Float, nullable=False),
        sa.Column("first_response_at", sa.Float, nullable=True),
        sa.Column("resolved_at", sa.Float, nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("waiting_since", sa.Float, nullable=True),
        sa.Column("pauses", sa.JSON, nullable=False),
        sa.Column("onsite_dispatched_at", sa.Float, nullable=True),
        sa.Column("onsite_arrived_at", sa.Float, nullable=True),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("flap_changes", sa.JSON, nullable=False),
        sa.Column("alert_state", sa.String(16), nullable=True),
        sa.Column("alert_changed_at", sa.Float, nullable=True),
        sa.Column("reopen_count", sa.Integer, nullable=False),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("open_key", sa.String(600), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("number", name="uq_tickets_number"),
        # One open ticket per host and alert fingerprint: the database, not timing, guarantees it.
        sa.UniqueConstraint("open_key", name="uq_tickets_open_key"),
    )
    op.create_index("ix_tickets_customer", "tickets", ["customer"])
    op.create_index("ix_tickets_state", "tickets", ["state"])
    op.create_index("ix_tickets_assignee", "tickets", ["assignee"])
    op.create_table(
        "ticket_events",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_events_ticket_id_tickets"),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])
    op.create_table(
        "sla_marks",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mark", sa.String(64), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("due", sa.Float, nullable=True),
        sa.Column("elapsed", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sla_marks"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_sla_marks_ticket_id_tickets"),
        # A mark (at risk, breached, an escalation level) fires once per ticket and cycle.
        sa.UniqueConstraint("ticket_id", "kind", "mark", "cycle", name="uq_sla_marks_ticket_id"),
    )
    op.create_table(
        "surveys",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("engineer", sa.String(64), nullable=True),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_surveys_ticket_id_tickets"),
        sa.UniqueConstraint("ticket_id", "cycle", name="uq_surveys_ticket_id"),
    )
    op.create_table(
        "engineers",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("from_config", sa.Boolean, nullable=False),
        sa.Column("last_assigned_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_engineers"),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("customer", sa.String(64), nullable=True),
        sa.Column("hosts", sa.JSON, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("starts", sa.Float, nullable=True),
        sa.Column("ends", sa.Float, nullable=True),
        sa.Column("recurrence", sa.JSON, nullable=True),
        sa.Column("ended_at", sa.Float, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
    )
    op.create_table(
        "suppressed_alerts",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("window_id", _ID, nullable=False),
        sa.Column("open_key", sa.String(600), nullable=False),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("alert", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("released_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_suppressed_alerts"),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["maintenance_windows.id"],
            name="fk_suppressed_alerts_window_id_maintenance_windows",
        ),
        sa.UniqueConstraint("window_id", "open_key", name="uq_suppressed_alerts_window_id"),
    )
    op.create_table(
        "ticket_outbox",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.Column("failed_at", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_outbox"),
    )
    op.create_index("ix_ticket_outbox_next_at", "ticket_outbox", ["next_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_outbox_next_at", "ticket_outbox")
    op.drop_table("ticket_outbox")
    op.drop_table("suppressed_alerts")
    op.drop_table("maintenance_windows")
    op.drop_table("engineers")
    op.drop_table("surveys")
    op.drop_table("sla_marks")
    op.drop_index("ix_ticket_events_ticket_id", "ticket_events")
    op.drop_table("ticket_events")
    op.drop_index("ix_tickets_assignee", "tickets")
    op.drop_index("ix_tickets_state", "tickets")
    op.drop_index("ix_tickets_customer", "tickets")
    op.drop_table("tickets")
