"""Real `upkeep-agent` processes pushing to a real `upkeep serve` across its kill -9:
after the replay, every sequence number from 1 on is stored, none twice."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.collector import Collector

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _seqs(c: Collector) -> dict[str, list[int]]:
    with sqlite3.connect(f"file:{c.data_dir / 'upkeep.db'}?mode=ro", uri=True) as db:
        out: dict[str, list[int]] = {}
        for aid, seq in db.execute("SELECT agent_id, seq FROM reports ORDER BY agent_id, seq"):
            out.setdefault(aid, []).append(int(seq))
        return out


def _until(what: str, cond: object, limit: float = 120.0) -> None:
    end = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_real_agents_lose_nothing_across_a_kill_9(tmp_path: Path) -> None:
    c = Collector(tmp_path / "collector", {"customers": [{"name": "acme"}]})
    c.start()
    agents: list[subprocess.Popen[bytes]] = []
    try:
        token = c.enrollment_token("acme")
        for i in range(2):
            cfg = tmp_path / f"agent{i}.yaml"
            cfg.write_text(
                yaml.safe_dump(
                    {
                        "state_dir": str(tmp_path / f"state{i}"),
                        "interval": "1s",
                        "jitter": 0,
                        "collector": {"allow_plaintext": True},
                    }
                )
            )
            done = subprocess.run(
                [sys.executable, "-m", "agent.cli", "enroll", c.base_url, token, "--config", str(cfg)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            log = open(tmp_path / f"agent{i}.log", "wb")  # noqa: SIM115  (the child holds it)
            agents.append(
                subprocess.Popen(
                    [sys.executable, "-m", "agent.cli", "run", "--config", str(cfg)],
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                )
            )
            log.close()
        _until(
            "both agents stored reports", lambda: len(_seqs(c)) == 2 and min(map(len, _seqs(c).values())) >= 3
        )
        c.kill()
        during = {a: max(s) for a, s in _seqs(c).items()}
        time.sleep(3)  # the agents spool while the collector is gone
        c.start()
        _until(
            "the spool replayed past the outage",
            lambda: all(max(s) >= during[a] + 5 for a, s in _seqs(c).items()),
        )
    finally:
        for a in agents:
            a.terminate()
            a.wait(30)
        c.stop()
    for aid, seqs in _seqs(c).items():
        assert seqs == list(range(1, len(seqs) + 1)), f"gaps or repeats for agent {aid}"
    hosts = c.hosts_json()
    assert len(hosts) == 2
    assert all(h["facts"].get("kernel") for h in hosts)
