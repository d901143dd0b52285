"""Fixtures of the alerting service tests: a context with only the alerts area, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collector.config import CollectorConfig, build_config
from collector.core.window import RecentWindow
from collector.ports import FixedClock
from collector.services import AppContext
from collector.services import alerts as alerts_area
from collector.store.engine import open_store
from tests.support.postgres import PostgresServer, running_postgres

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

RULES = """
groups:
  - name: load
    rules:
      - alert: LoadHigh
        expr: node_load1 > 2
        for: 1m
        labels:
          severity: major
        annotations:
          summary: "{{ $labels.host }} load {{ $value }}"
          playbook: cpu-hogs
"""


@pytest.fixture(scope="session")
def alerting_pg() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def alerting_config(request: pytest.FixtureRequest, tmp_path: Path) -> CollectorConfig:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "alerting": {"rule_paths": [str(rules)], "shipped_rules": False, "interval": "15s"},
    }
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("alerting_pg")
        data["storage"] = {"url": server.create_database()}
    return build_config(data)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def make_ctx(alerting_config: CollectorConfig, clock: FixedClock) -> Iterator[Callable[[], AppContext]]:
    """Builds contexts on the same store (a second call is a restarted collector)."""
    made: list[AppContext] = []

    def make() -> AppContext:
        ctx = AppContext(config=alerting_config, engine=open_store(alerting_config), clock=clock,
                         window=RecentWindow(alerting_config.retention.window))
        ctx.closers.append(ctx.engine.dispose)
        alerts_area.install(ctx)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
