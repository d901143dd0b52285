"""The agent against the real collector (`upkeep serve`): enroll, push, replay after a kill -9."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.collector import running_collector

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _ingested(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    m = re.search(r"^upkeep_reports_ingested_total(?:\{\})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def _until(what: str, cond: object, limit: float = 90.0) -> None:
    end = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_enroll_then_push_to_the_real_collector_across_its_kill_9(tmp_path: Path) -> None:
    with running_collector(tmp_path / "collector", {"customers": [{"name": "acme"}]}) as c:
        enrollment = c.enrollment_token("acme")
        config = tmp_path / "agent.yaml"
        config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "interval": "1s", "jitter": 0,
                                          "collector": {"allow_plaintext": True}}))
        done = subprocess.run([sys.executable, "-m", "agent.cli", "enroll", c.base_url, enrollment,
                               "--config", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        with open(tmp_path / "agent.log", "wb") as log:
            agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
                                     cwd=ROOT, stdout=log, stderr=log)
        try:
            _until("three reports stored", lambda: _ingested(c.base_url) >= 3)
            c.kill()
            log_path = tmp_path / "agent.log"
            _until("the agent to notice the outage", lambda: "push failed" in log_path.read_text())
            c.start()
            before = _ingested(c.base_url)  # counters restart with the process
            _until("the spooled reports replayed", lambda: _ingested(c.base_url) >= before + 3)
        finally:
            agent.terminate()
            agent.wait(30)
        admin = c.token("admin")
        hosts = httpx.get(f"{c.base_url}/api/v1/hosts", headers={"Authorization": f"Bearer {admin}"},
                          timeout=10).json()
    log_text = (tmp_path / "agent.log").read_text()
    assert agent.returncode == 0, log_text
    assert "for good" not in log_text  # nothing set aside: the collector accepted every report
    (host,) = hosts
    assert host["agent_id"] == (tmp_path / "state" / "agent_id").read_text().strip()
    assert host["agent_version"] == "0.1.0"
    assert host["interval"] == 1.0
    assert [k["type"] for k in host["facts"]["ssh_host_keys"]] == sorted(k["type"] for k in
                                                                          host["facts"]["ssh_host_keys"])
