"""Tables and queries for tickets."""

from __future__ import annotations

from collector.store.metadata import metadata  # noqa: F401
