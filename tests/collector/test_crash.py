"""kill -9 of the collector during a burst from many agents: nothing acknowledged is lost.

The agents are simulated with real HTTP clients, each keeping its unacknowledged
reports in a spool and replaying them in order, as docs/report-format.md asks of
the agent.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.collector.reports import agent_id, report
from tests.support.collector import Collector

AGENTS = 16
REPORTS_EACH = 40


class SpoolingAgent(threading.Thread):
    def __init__(self, c: Collector, token: str, aid: str, paused: threading.Event) -> None:
        super().__init__(daemon=True)
        self.c, self.token, self.aid, self.paused = c, token, aid, paused
        self.spool: list[dict] = []
        self.acked: set[int] = set()
        self.errors = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        seq = 0
        deadline = time.monotonic() + 240
        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=10) as client:
            while (seq < REPORTS_EACH or self.spool) and time.monotonic() < deadline:
                if seq < REPORTS_EACH:
                    seq += 1
                    self.spool.append(report(self.aid, seq, time.time(), samples=20))
                if self.paused.is_set():
                    time.sleep(0.05)
                    continue
                batch = self.spool[:50]
                try:
                    r = client.post(
                        f"{self.c.base_url}/api/v1/reports", content=orjson.dumps({"reports": batch})
                    )
                except httpx.HTTPError:
                    self.errors += 1
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    with self.lock:
                        self.acked.update(d["seq"] for d in batch)
                    del self.spool[: len(batch)]
                else:
                    self.errors += 1
                    time.sleep(0.05)


def stored(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [(a, int(s)) for a, s in conn.execute("SELECT agent_id, seq FROM reports")]


@pytest.mark.slow
def test_kill_9_during_a_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    c = Collector(tmp_path, {"customers": [{"name": "acme"}], "ingest": {"max_rate_per_minute": 100000}})
    c.start()
    try:
        paused = threading.Event()
        agents = []
        for i in range(AGENTS):
            aid = agent_id()
            got = c.enroll("acme", aid, f"crash-{i}")
            agents.append(SpoolingAgent(c, got["host_token"], aid, paused))
        for a in agents:
            a.start()
        # Kill while the burst is in full flow.
        while sum(len(a.acked) for a in agents) < AGENTS * REPORTS_EACH // 4:
            time.sleep(0.01)
        c.kill()
        paused.set()
        time.sleep(0.3)  # let requests in flight fail
        acked_before = {(a.aid, s) for a in agents for s in a.acked}
        in_db = set(stored(c.data_dir / "upkeep.db"))
        assert acked_before <= in_db, "a report answered 2xx is missing after kill -9"

        c.start()
        paused.clear()
        for a in agents:
            a.join(timeout=240)
        assert not any(a.is_alive() for a in agents)
        rows = stored(c.data_dir / "upkeep.db")
        assert len(rows) == len(set(rows)) == AGENTS * REPORTS_EACH
        assert set(rows) == {(a.aid, s) for a in agents for s in range(1, REPORTS_EACH + 1)}
        assert sum(a.errors for a in agents) > 0  # the kill was felt
    finally:
        c.stop()
