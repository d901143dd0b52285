"""Runs through a real `upkeep serve` and the real `upkeep` command, against real sshd."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.remote.known_hosts import fingerprint
from tests.support.collector import Collector, running_collector
from tests.support.sshd import SshLab

# Many `upkeep` processes and a server: slow on a loaded machine.
pytestmark = [pytest.mark.sshd, pytest.mark.slow, pytest.mark.timeout(900)]


def _facts(server: object) -> dict[str, object]:
    key = server.host_key  # type: ignore[attr-defined]
    entry = {"type": key.get_name(), "key": key.get_base64(), "fingerprint": fingerprint(key)}
    return {"ssh_host_keys": [entry]}


@pytest.fixture(scope="module")
def site(lab: SshLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    s = lab.servers
    config = {
        "customers": [{"name": "acme"}, {"name": "globex"}],
        "remote": {
            "enabled": True,
            "key_file": str(lab.client_key_path),
            "allowed_customers": ["acme", "globex"],
            "hosts": {
                "web-01": {"address": "127.0.0.1", "port": s[0].port},
                "db-01": {"address": "127.0.0.1", "port": s[1].port},
                "lonely": {"address": "127.0.0.1", "port": s[2].port, "customer": "acme"},
            },
        },
    }
    with running_collector(tmp_path_factory.mktemp("site"), config) as c:
        c.enroll("acme", "a" * 32, "web-01", **_facts(s[0]))
        c.enroll("globex", "b" * 32, "db-01", **_facts(s[1]))
        c.tokens = {  # type: ignore[attr-defined]
            "admin": c.token("admin"),
            "viewer": c.token("viewer"),
            "acme": c.token("viewer", customer="acme"),
            "globex": c.token("viewer", customer="globex"),
            "acme-engineer": c.token("engineer", customer="acme"),
        }
        yield c


def _get(c: Collector, path: str, token: str) -> httpx.Response:
    return httpx.get(f"{c.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_cli_run_is_stored_and_served_per_customer(site: Collector) -> None:
    done = site.cli("playbook", "run", "time-sync", "--host", "web-01", "--host", "db-01", "--json")
    run = json.loads(done.stdout)
    assert {h["host"]: h["status"] for h in run["hosts"]} == {"web-01": "passed", "db-01": "passed"}
    admin = site.tokens["admin"]
    acme = site.tokens["acme"]
    globex = site.tokens["globex"]

    r = _get(site, f"/api/v1/runs/{run['id']}", admin)
    assert r.status_code == 200
    assert [h["host"] for h in r.json()["hosts"]] == ["db-01", "web-01"]
    step = r.json()["hosts"][0]["steps"][0]
    assert {"command", "exit_code", "duration", "output", "captured", "verdict"} <= step.keys()

    r = _get(site, f"/api/v1/runs/{run['id']}", acme)
    assert [h["host"] for h in r.json()["hosts"]] == ["web-01"]
    assert run["id"] in [x["id"] for x in _get(site, "/api/v1/runs", acme).json()]

    missing = _get(site, "/api/v1/runs/0123456789abcdef0123456789abcdef", acme)
    assert missing.status_code == 404
    assert missing.json()["error"]
    assert _get(site, "/api/v1/runs?host=web-01", globex).json() == []


def test_scoped_run_that_touched_nobody_of_the_customer_is_404(site: Collector) -> None:
    run = json.loads(site.cli("playbook", "run", "cpu-hogs", "--host", "db-01", "--json").stdout)
    acme = site.tokens["acme"]
    r = _get(site, f"/api/v1/runs/{run['id']}", acme)
    assert r.status_code == 404
    missing = _get(site, "/api/v1/runs/ffffffffffffffffffffffffffffffff", acme)
    assert missing.status_code == 404
    assert r.json()["error"] == f"run {run['id']} not found"


def test_api_starts_runs_for_engineers_in_scope(site: Collector) -> None:
    viewer = site.tokens["viewer"]
    engineer = site.tokens["acme-engineer"]
    url = f"{site.base_url}/api/v1/runs"
    body = {"playbook": "memory-top", "hosts": ["web-01"], "params": {"top": 3}}
    r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {viewer}"}, timeout=60)
    assert r.status_code == 403
    r = httpx.post(url, json={**body, "hosts": ["db-01"]}, headers={"Authorization": f"Bearer {engineer}"},
                   timeout=60)
    assert r.status_code == 404
    auth = {"Authorization": f"Bearer {engineer}"}
    r = httpx.post(url, json={**body, "params": {"top": "many"}}, headers=auth, timeout=60)
    assert r.status_code == 422
    assert r.json()["field"] == "params.top"
    r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {engineer}"}, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["hosts"][0]["status"] == "passed"
    assert r.json()["trigger"] == "api"
    playbooks = _get(site, "/api/v1/playbooks", viewer).json()
    assert "monthly-inspection" in [p["name"] for p in playbooks]


def test_hosts_trust_for_a_host_without_an_agent(site: Collector, lab: SshLab) -> None:
    first = site.cli("playbook", "run", "time-sync", "--host", "lonely", check=False)
    assert first.returncode == 1
    assert "host-key-unknown" in first.stdout
    refused = site.cli("hosts", "trust", "lonely", "--fingerprint", "SHA256:wrong", check=False)
    assert refused.returncode == 1
    assert "nothing recorded" in refused.stderr
    fp = fingerprint(lab.servers[2].host_key)
    done = site.cli("hosts", "trust", "lonely", "--fingerprint", fp)
    assert fp in done.stdout
    assert "recorded" in done.stdout
    second = site.cli("playbook", "run", "time-sync", "--host", "lonely")
    assert "passed" in second.stdout


def test_playbook_check_reports_file_step_and_reason(site: Collector, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {name: one, run: 'echo {{ nowhere }}', retries: 2}\n")
    done = site.cli("playbook", "check", str(bad), check=False)
    assert done.returncode == 1
    assert f"{bad}:one: unknown key 'retries'" in done.stdout
    assert f"{bad}:one.run: template uses undefined name 'nowhere'" in done.stdout
    shipped = sorted(Path(__file__).resolve().parents[2].joinpath("playbooks").glob("*.yaml"))
    assert site.cli("playbook", "check", *map(str, shipped)).returncode == 0
