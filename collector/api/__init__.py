"""HTTP: thin routers over the services; each module exposes ``router``."""

from __future__ import annotations

ROUTER_MODULES = (
    "health",
    "ingest",
    "enroll",
    "hosts",
    "tokens",
    "alerts",
    "tickets",
    "integrations",
    "runs",
    "inspections",
    "reports",
    "console",
)
