"""Alembic environment: migrations run on a connection the collector passes in."""

from __future__ import annotations

from alembic import context

import collector.store.tables  # noqa: F401  (registers every table on the metadata)
from collector.store.metadata import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `upkeep db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
