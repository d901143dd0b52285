"""Tables and queries for schedule."""

from __future__ import annotations

from collector.store.metadata import metadata  # noqa: F401
