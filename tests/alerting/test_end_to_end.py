"""End to end: a real agent whose root-filesystem threshold is crossed fires the alert in a real collector.

`upkeep serve` runs with a rule file whose threshold this machine's root filesystem crosses
(free space under its current share plus two points); a real `upkeep-agent run` enrolls and
pushes; the collector evaluates every second and the alert shows up firing in
``GET /api/v1/alerts``, in ``upkeep alerts list`` and as ``ALERTS`` on ``/metrics``. Then the
API's customer scoping, a bad reload (422, previous rules stay) and a SIGHUP reload are checked
on the same server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.collector import running_collector

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _until(what: str, probe: Callable[[], Any], limit: float = 90.0) -> Any:
    """Poll for something the running processes cause; the limit only bounds a broken run."""
    end = time.monotonic() + limit
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _rules(threshold: float) -> str:
    return yaml.safe_dump({"groups": [{"name": "e2e", "rules": [{
        "alert": "RootFilesystemLow",
        "expr": f'100 * node_filesystem_avail_bytes{{mountpoint="/"}}'
                f' / node_filesystem_size_bytes{{mountpoint="/"}} < {threshold:.2f}',
        "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ $labels.mountpoint }} on {{ $labels.host }} is "
                                   '{{ printf "%.0f" $value }}% free', "playbook": "disk-usage"},
    }]}]})


def test_a_real_agent_crossing_a_filesystem_threshold_fires_in_the_collector(tmp_path: Path) -> None:
    st = os.statvfs("/")
    free_pct = 100.0 * st.f_bavail / st.f_blocks
    rules = tmp_path / "site-rules.yml"
    rules.write_text(_rules(free_pct + 2.0), encoding="utf-8")
    config = {
        "customers": [{"name": "acme"}, {"name": "globex"}],
        "alerting": {"rule_paths": [str(rules)], "shipped_rules": False, "interval": "1s"},
    }
    with running_collector(tmp_path / "collector", config) as c:
        admin = c.token("admin")
        acme_only = c.token("viewer", customer="acme")
        globex_only = c.token("viewer", customer="globex")
        enrollment = c.enrollment_token("acme")

        agent_cfg = tmp_path / "agent.yaml"
        agent_cfg.write_text(yaml.safe_dump({
            "state_dir": str(tmp_path / "agent-state"), "ssh_host_keys_dir": str(tmp_path / "ssh"),
            "interval": "1s", "jitter": 0,
            "collector": {"url": c.base_url, "allow_plaintext": True, "timeout": 10},
        }), encoding="utf-8")
        agent = [sys.executable, "-m", "agent.cli"]
        done = subprocess.run([*agent, "enroll", c.base_url, enrollment, "--config", str(agent_cfg)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        with open(tmp_path / "agent.log", "ab") as log:
            proc = subprocess.Popen([*agent, "run", "--config", str(agent_cfg)], cwd=ROOT,
                                    stdout=log, stderr=log)
        # The agent keeps reporting throughout: a host that stops reporting goes down and its
        # series go stale, which (rightly) resolves the alert.
        try:
            def firing() -> list[dict[str, Any]]:
                r = httpx.get(f"{c.base_url}/api/v1/alerts", params={"state": "firing"},
                              headers={"Authorization": f"Bearer {acme_only}"}, timeout=10)
                assert r.status_code == 200, r.text
                return [a for a in r.json() if a["alertname"] == "RootFilesystemLow"]

            [alert] = _until("the alert to fire", firing)
            [host] = httpx.get(f"{c.base_url}/api/v1/hosts", headers={"Authorization": f"Bearer {admin}"},
                               timeout=10).json()
            assert alert["labels"]["mountpoint"] == "/"
            assert (alert["host"], alert["customer"], alert["severity"]) == (host["name"], "acme", "warning")
            assert alert["annotations"]["summary"] == f"/ on {host['name']} is {alert['value']:.0f}% free"
            assert alert["annotations"]["playbook"] == "disk-usage"
            assert alert["value"] < free_pct + 2.0

            # Scoping: a token of another customer sees nothing; the host's customer sees it.
            def alerts_for(token: str) -> list[dict[str, Any]]:
                r = httpx.get(f"{c.base_url}/api/v1/alerts", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
                assert r.status_code == 200
                return list(r.json())

            assert [a["fingerprint"] for a in alerts_for(acme_only)] == [alert["fingerprint"]]
            assert alerts_for(globex_only) == []
            assert httpx.get(f"{c.base_url}/api/v1/alerts", timeout=10).status_code == 401
            bogus = httpx.get(f"{c.base_url}/api/v1/alerts", params={"state": "bogus"},
                              headers={"Authorization": f"Bearer {acme_only}"}, timeout=10)
            assert bogus.status_code == 422
            assert bogus.json()["field"] == "state"

            # The command line and /metrics agree.
            listed = json.loads(c.cli("alerts", "list", "--json").stdout)
            assert [a["fingerprint"] for a in listed] == [alert["fingerprint"]]
            metrics = httpx.get(f"{c.base_url}/metrics", timeout=10).text
            assert 'alertname="RootFilesystemLow",alertstate="firing"' in metrics
            assert "upkeep_rule_evaluation_duration_seconds_count" in metrics

            # A bad file on reload: 422 naming the file, the rules in force stay.
            rules.write_text(_rules(free_pct + 2.0).replace("node_filesystem_avail_bytes",
                                                            "quantile(0.5, node_filesystem_avail_bytes)"))
            r = httpx.post(f"{c.base_url}/api/v1/rules/reload", headers={"Authorization": f"Bearer {admin}"},
                           timeout=30)
            assert r.status_code == 422, r.text
            assert r.json()["field"] == str(rules)
            assert "quantile" in r.json()["error"]
            assert httpx.post(f"{c.base_url}/api/v1/rules/reload",
                              headers={"Authorization": f"Bearer {acme_only}"}, timeout=10).status_code == 403
            shown = httpx.get(f"{c.base_url}/api/v1/rules", headers={"Authorization": f"Bearer {acme_only}"},
                              timeout=10).json()
            assert [r["name"] for g in shown["groups"] for r in g["rules"]] == ["RootFilesystemLow"]
            assert "quantile" in shown["last_reload_error"]

            # SIGHUP reloads: a fixed file with a rule renamed shows up without a restart.
            rules.write_text(_rules(free_pct + 2.0).replace("RootFilesystemLow", "RootFilesystemLower"))
            assert c.process is not None
            c.process.send_signal(signal.SIGHUP)

            def reloaded() -> bool:
                got = httpx.get(f"{c.base_url}/api/v1/rules",
                                headers={"Authorization": f"Bearer {acme_only}"}, timeout=10).json()
                return [r["name"] for g in got["groups"] for r in g["rules"]] == ["RootFilesystemLower"]

            _until("the SIGHUP reload", reloaded)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
