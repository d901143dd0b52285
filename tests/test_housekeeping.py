"""SLA sweep, rollups and retention run once per database (the scheduler's jobs), not per collector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.app import build_context
from collector.config import build_config
from collector.scheduling.definitions import desired_jobs
from collector.services import AppContext

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _loops(ctx: AppContext) -> set[str]:
    return {getattr(loop, "__qualname__", repr(loop)) for loop in ctx.background}


@pytest.fixture
def contexts(tmp_path: Path) -> Iterator[dict[str, AppContext]]:
    made: dict[str, AppContext] = {}
    base = {"customers": [{"name": "acme"}]}
    made["default"] = build_context(build_config({**base, "data_dir": str(tmp_path / "a")}))
    made["no-scheduler"] = build_context(
        build_config({**base, "data_dir": str(tmp_path / "b"), "schedule": {"enabled": False}})
    )
    yield made
    for ctx in made.values():
        ctx.close()


def test_by_default_the_scheduler_owns_the_once_per_database_work(contexts: dict[str, AppContext]) -> None:
    ctx = contexts["default"]
    jobs = {spec.id for spec in desired_jobs(ctx.config, NOW)}
    assert {"sla-sweep", "rollups", "retention"} <= jobs
    loops = _loops(ctx)
    assert not any("_sweep_loop" in name for name in loops), loops
    assert not any("retention_loop" in name for name in loops), loops
    # The heartbeat sweep writes this process's recent window, so it stays a loop here.
    assert any("heartbeat_loop" in name for name in loops), loops


def test_without_the_scheduler_each_area_runs_its_own_loops(contexts: dict[str, AppContext]) -> None:
    loops = _loops(contexts["no-scheduler"])
    assert any("_sweep_loop" in name for name in loops), loops
    assert any("retention_loop" in name for name in loops), loops
