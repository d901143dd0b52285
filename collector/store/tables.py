"""Imports every table module so the metadata knows all tables (migrations, tests)."""

from __future__ import annotations

import collector.store.alerts
import collector.store.inventory
import collector.store.remote
import collector.store.schedule
import collector.store.tickets  # noqa: F401
