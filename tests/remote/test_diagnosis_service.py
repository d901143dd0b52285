"""The diagnosis service end to end: inventory hosts, config, SSH, storage, reading back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collector.config import build_config
from collector.errors import Forbidden, InvalidInput, NotFound
from collector.ports import FixedClock
from collector.services import AppContext
from collector.services.diagnosis import DiagnosisService
from tests.support.sshd import SshLab

pytestmark = pytest.mark.sshd
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _context(tmp_path: Path, lab: SshLab, **remote: Any) -> AppContext:
    from collector.app import build_context

    servers = lab.servers
    settings = {
        "enabled": True,
        "key_file": str(lab.client_key_path),
        "allowed_customers": ["acme"],
        "hosts": {
            "web-01": {"address": "127.0.0.1", "port": servers[0].port},
            "web-02": {"address": "127.0.0.1", "port": servers[1].port},
            "db-01": {"address": "127.0.0.1", "port": servers[2].port},
            "lonely": {"address": "127.0.0.1", "port": servers[3].port, "customer": "acme"},
        },
        "automatic": ["disk-usage"],
        "redact": ["hunter2"],
        **remote,
    }
    customers = [{"name": "acme"}, {"name": "globex"}]
    config = build_config({"data_dir": str(tmp_path / "data"), "customers": customers, "remote": settings})
    return build_context(config, clock=FixedClock(NOW))


def _enroll(ctx: AppContext, name: str, customer: str, server: Any, labels: dict[str, str] | None = None,
            ) -> None:
    from collector.store.inventory import insert_host

    facts = {"hostname": name, "ssh_host_keys": [{"type": server.host_key.get_name(),
                                                  "key": server.host_key.get_base64(), "fingerprint": ""}]}
    with ctx.engine.begin() as conn:
        insert_host(conn, name=name, customer=customer, agent_id=f"agent-{name}", facts=facts,
                    token_hash=f"hash-{name}", now=NOW.timestamp(), labels=labels)


@pytest.fixture
def ctx(tmp_path: Path, lab: SshLab) -> Iterator[AppContext]:
    context = _context(tmp_path, lab)
    _enroll(context, "web-01", "acme", lab.servers[0], {"role": "web"})
    _enroll(context, "web-02", "acme", lab.servers[1], {"role": "web"})
    _enroll(context, "db-01", "globex", lab.servers[2], {"role": "db"})
    yield context
    context.close()


def test_a_run_is_stored_and_readable(ctx: AppContext) -> None:
    svc: DiagnosisService = ctx.area("diagnosis")
    run = svc.run_playbook("disk-usage", ["web-01", "web-02", "db-01"], {"top": "3", "path": "/etc"},
                           trigger="manual", requested_by="alice")
    by_host = {h.host: h for h in run.hosts}
    assert by_host["web-01"].status == "passed"
    assert by_host["web-02"].status == "passed"
    # globex is not in allowed_customers: nothing is sent to its host.
    assert by_host["db-01"].status == "not-allowed"
    assert by_host["db-01"].steps == []
    assert run.status == "finished"
    assert run.summary == {"passed": 2, "not-allowed": 1}
    assert run.params == {"path": "/etc", "top": 3, "threshold": 90}
    web = by_host["web-01"]
    assert [s.step for s in web.steps] == ["usage", "largest-directories", "largest-files", "deleted-open"]
    assert web.steps[0].command == "df -P /etc | tail -n 1; df -Pi /etc 2>/dev/null | tail -n 1"
    assert any(f["name"] == "usage" for f in web.findings)

    assert svc.get_run(run.id, customers=["globex"]).hosts[0].host == "db-01"
    assert [h.host for h in svc.get_run(run.id, customers=["acme"]).hosts] == ["web-01", "web-02"]
    assert svc.get_run(run.id, customers=["initech"]) is None
    record = svc.runs_for_host("web-01")
    assert record[0]["run_id"] == run.id
    assert record[0]["playbook"] == "disk-usage"
    assert record[0]["worst"] in {"info", "warning", "critical"}
    assert [r.id for r in svc.list_runs(host="web-02")] == [run.id]


def test_labels_and_customers_select_hosts(ctx: AppContext) -> None:
    svc: DiagnosisService = ctx.area("diagnosis")
    assert [h.name for h in svc.select_hosts(labels={"role": "web"})] == ["web-01", "web-02"]
    assert sorted(h.name for h in svc.select_hosts(customer="acme")) == ["lonely", "web-01", "web-02"]
    assert [h.name for h in svc.select_hosts(customer="acme", scope=["globex"])] == []


def test_a_host_without_an_agent_needs_an_engineer_to_trust_it(ctx: AppContext, lab: SshLab) -> None:
    svc: DiagnosisService = ctx.area("diagnosis")
    [host] = svc.run_playbook("time-sync", ["lonely"], {}, trigger="manual").hosts
    assert host.status == "host-key-unknown"
    assert "upkeep hosts trust lonely" in host.reason
    key_type, fp = svc.trust_host("lonely")
    assert key_type == "ssh-ed25519"
    assert fp in host.reason
    [host] = svc.run_playbook("time-sync", ["lonely"], {}, trigger="manual").hosts
    assert host.status == "passed"


def test_trust_refuses_an_unexpected_fingerprint(ctx: AppContext) -> None:
    svc: DiagnosisService = ctx.area("diagnosis")
    with pytest.raises(Forbidden, match="nothing recorded"):
        svc.trust_host("lonely", expected="SHA256:not-this-one")
    assert not svc.known_hosts.path.exists()


def test_ticket_runs_only_where_and_what_is_automatic(ctx: AppContext) -> None:
    svc: DiagnosisService = ctx.area("diagnosis")
    assert svc.allowed_automatically("disk-usage", "web-01")
    assert not svc.allowed_automatically("memory-top", "web-01")
    assert not svc.allowed_automatically("disk-usage", "db-01")
    assert not svc.allowed_automatically("disk-usage", "no-such-host")
    run = svc.run_playbook("memory-top", ["web-01"], {}, trigger="ticket", ticket_id=17)
    assert run.hosts[0].status == "not-allowed"
    assert run.ticket_id == "17"
    run = svc.run_playbook("disk-usage", ["web-01"], {"path": "/etc"}, trigger="ticket", ticket_id=17)
    assert run.hosts[0].status == "passed"
    assert run.id in {r.id for r in svc.list_runs(ticket_id=17)}


def test_bad_requests_are_refused_before_any_host(ctx: AppContext) -> None:
    svc: DiagnosisService = ctx.area("diagnosis")
    with pytest.raises(NotFound):
        svc.run_playbook("no-such-playbook", ["web-01"], {}, trigger="manual")
    with pytest.raises(NotFound):
        svc.run_playbook("disk-usage", ["no-such-host"], {}, trigger="manual")
    with pytest.raises(InvalidInput, match="path"):
        svc.run_playbook("disk-usage", ["web-01"], {"path": "/; touch /tmp/pwned"}, trigger="manual")
    assert svc.list_runs() == []


def test_disabled_by_default(tmp_path: Path, lab: SshLab) -> None:
    context = _context(tmp_path, lab, enabled=False)
    try:
        with pytest.raises(Forbidden, match="disabled"):
            context.area("diagnosis").run_playbook("disk-usage", ["lonely"], {}, trigger="manual")
        assert not context.area("diagnosis").allowed_automatically("disk-usage", "lonely")
    finally:
        context.close()
    assert build_config({}).remote.enabled is False
