"""Tickets through the real server (`upkeep serve` on 127.0.0.1): agent reports, Alertmanager,
the API with roles and scopes, the survey page, the outbox delivering to a real HTTP receiver
and a real SMTP server (aiosmtpd), and the SLA sweep run with an injected time by the CLI.

The 1 Hz flapping scenario runs in-process with a FixedClock (test_ticket_service.py): the real
server runs on the system clock and cannot take minutes of simulated time.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.collector.reports import report
from tests.support import free_port
from tests.support.collector import Collector, running_collector

pytestmark = pytest.mark.slow

RULES = """groups:
  - name: test
    rules:
      - alert: LoadTooHigh
        expr: node_load1 > 2
        labels:
          severity: critical
        annotations:
          summary: Load is high
"""
REPORT = {"cause": "runaway backup job", "actions": "stopped the job", "result": "load normal", "parts": []}


class Receiver:
    """A real HTTP server that records the JSON bodies posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll until ``check`` returns something truthy (the server works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Receiver, Mailbox]]:
    """One server for the module (starting one is the slow part); each test uses its own tickets."""
    tmp_path = tmp_path_factory.mktemp("tickets-e2e")
    receiver = Receiver()
    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    config = {
        "customers": [{"name": "acme", "contract": {"team_lead": "boss"}}, {"name": "globex"}],
        "engineers": [
            {"name": "li", "email": "li@example.test"},
            {"name": "boss", "role": "lead", "email": "boss@example.test"},
            {"name": "sage", "role": "expert"},
        ],
        "alerting": {"shipped_rules": False, "rule_paths": [str(rules)], "interval": "1s"},
        "tickets": {"sweep_interval": "1h"},
        "notifications": {
            "webhooks": [{"url": receiver.url}],
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False},
            "drain_interval": "0.2s",
        },
    }
    try:
        with running_collector(tmp_path / "c", config) as c:
            yield c, receiver, mailbox
    finally:
        controller.stop()
        receiver.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_agents_alert_opens_exactly_one_ticket(site: tuple[Collector, Receiver, Mailbox]) -> None:
    c, receiver, _ = site
    admin = auth(c.token("admin"))
    aid = uuid.uuid4().hex
    host = c.enroll("acme", aid, "db1")
    headers = {"Authorization": f"Bearer {host['host_token']}"}
    seq = 0

    def push(value: float) -> None:
        nonlocal seq
        seq += 1
        r = httpx.post(
            f"{c.base_url}/api/v1/reports",
            json=report(aid, seq, time.time(), value=value),
            headers=headers,
            timeout=30,
        )
        assert r.status_code in (200, 202), r.text

    def tickets() -> list[dict[str, Any]]:
        got = httpx.get(f"{c.base_url}/api/v1/tickets", headers=admin, timeout=30).json()
        return [t for t in got if t["source"] == "alert"]

    push(5.0)
    [t] = eventually(tickets)
    assert (t["host"], t["alertname"], t["priority"], t["source"]) == (
        "db1",
        "LoadTooHigh",
        "critical",
        "alert",
    )
    for _ in range(5):  # still firing through several evaluations
        push(6.0)
        time.sleep(0.3)
    push(0.5)
    shown = eventually(
        lambda: (
            (d := httpx.get(f"{c.base_url}/api/v1/tickets/{t['number']}", headers=admin, timeout=30).json())[
                "alert_state"
            ]
            == "resolved"
            and d
        )
    )
    assert "alert_resolved" in [e["kind"] for e in shown["events"]]
    assert len(tickets()) == 1
    assert (
        eventually(lambda: [b for b in receiver.bodies if b["event"] == "opened"])[0]["ticket"]["number"]
        == t["number"]
    )


def test_workflow_roles_survey_page_and_notifications(site: tuple[Collector, Receiver, Mailbox]) -> None:
    c, receiver, mailbox = site
    base = c.base_url
    eng = auth(c.token("engineer", name="li"))
    viewer = auth(c.token("viewer"))
    globex = auth(c.token("engineer", customer="globex"))
    req = {
        "customer": "acme",
        "title": "Mail server slow",
        "urgency": "high",
        "contact": {"name": "Zhang", "email": "zhang@acme.test"},
    }
    assert httpx.post(f"{base}/api/v1/tickets", json=req, headers=viewer).status_code == 403
    assert (
        httpx.post(f"{base}/api/v1/tickets", json={**req, "customer": "initech"}, headers=eng).json()["field"]
        == "customer"
    )
    r = httpx.post(f"{base}/api/v1/tickets", json=req, headers=eng)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert r.json()["assignee"] == "li"
    assert httpx.get(f"{base}/api/v1/tickets/{number}", headers=globex).status_code == 404
    assert httpx.get(f"{base}/api/v1/tickets", headers=globex).json() == []
    assert httpx.post(f"{base}/api/v1/tickets/{number}/ack", headers=viewer).status_code == 403
    bad = httpx.post(f"{base}/api/v1/tickets/{number}/close", headers=eng)
    assert bad.status_code == 409
    assert "resolve" in bad.json()["allowed"]
    missing = httpx.post(
        f"{base}/api/v1/tickets/{number}/resolve", json={"report": {"cause": "x"}}, headers=eng
    )
    assert (missing.status_code, missing.json()["field"]) == (422, "report.actions")
    assert httpx.post(f"{base}/api/v1/tickets/{number}/ack", headers=eng).json()["state"] == "in_progress"
    httpx.post(
        f"{base}/api/v1/tickets/{number}/resolve", json={"report": REPORT}, headers=eng
    ).raise_for_status()
    link = httpx.get(f"{base}/api/v1/tickets/{number}", headers=eng).json()["survey_link"]
    page = httpx.get(link)
    assert page.status_code == 200
    assert "<form" in page.text
    assert "runaway backup job" in page.text
    # The customer is unhappy: 1 reopens and the team lead hears of it by e-mail.
    r = httpx.post(
        link,
        content="rating=1&comment=still+slow",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["state"] == "assigned", r.text
    assert httpx.post(link, data={"rating": "5"}).status_code == 409  # used
    tampered = link[:-3] + ("xyz" if not link.endswith("xyz") else "abc")
    assert httpx.get(tampered).status_code == 403
    lead_mail = eventually(lambda: [m for to, m in mailbox.messages if "boss@example.test" in to])
    assert number in lead_mail[0]["Subject"]
    httpx.post(
        f"{base}/api/v1/tickets/{number}/resolve", json={"report": REPORT}, headers=eng
    ).raise_for_status()
    link2 = httpx.get(f"{base}/api/v1/tickets/{number}", headers=eng).json()["survey_link"]
    assert httpx.post(link2, json={"rating": 5, "comment": "thanks"}).json()["state"] == "closed"
    kinds = eventually(
        lambda: (
            {b["event"] for b in receiver.bodies} >= {"opened", "assigned", "resolved", "survey", "reopened"}
        )
    )
    assert kinds
    # The customer got the survey link by e-mail.
    assert eventually(lambda: [m for to, m in mailbox.messages if "zhang@acme.test" in to])
    metrics = httpx.get(f"{base}/metrics").text
    assert 'upkeep_tickets_opened_total{customer="acme",source="manual"}' in metrics
    assert 'upkeep_satisfaction_rating_bucket{customer="acme",engineer="li",le="1.0"} 1.0' in metrics


def test_alertmanager_webhook(site: tuple[Collector, Receiver, Mailbox]) -> None:
    c, _, _ = site
    url = f"{c.base_url}/api/v1/integrations/alertmanager"
    token = auth(c.token("engineer", name="alertmanager"))
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "upkeep",
        "groupKey": '{}:{alertname="HostDown"}',
        "commonLabels": {"customer": "acme", "severity": "major", "alertname": "HostDown"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"instance": f"web{i}:9100"},
                "annotations": {"summary": "down"},
                "startsAt": "2026-11-26T09:59:00.5Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
            for i in (1, 2)
        ],
    }
    assert httpx.post(url, json=payload).status_code == 401
    nameless = {
        **payload,
        "commonLabels": {"customer": "acme"},
        "alerts": [{"status": "firing", "labels": {}}],
    }
    bad = httpx.post(url, json=nameless, headers=token)
    assert bad.status_code == 422
    assert bad.json()["field"] == "alerts.0.labels.alertname"
    assert httpx.post(url, content=b"{not json", headers=token).status_code == 422
    r = httpx.post(url, json=payload, headers=token)
    assert [a["result"] for a in r.json()["alerts"]] == ["opened", "opened"]
    again = httpx.post(url, json=payload, headers=token).json()
    assert [a["result"] for a in again["alerts"]] == ["updated", "updated"]
    listed = httpx.get(f"{c.base_url}/api/v1/tickets", headers=token).json()
    assert sorted(t["host"] for t in listed if t["source"] == "alertmanager") == ["web1", "web2"]


def test_the_sweep_breaches_and_escalates_once(site: tuple[Collector, Receiver, Mailbox]) -> None:
    c, _, _ = site
    eng = auth(c.token("engineer"))
    r = httpx.post(
        f"{c.base_url}/api/v1/tickets",
        json={"customer": "acme", "title": "ERP down", "urgency": "critical"},
        headers=eng,
    )
    number = r.json()["number"]
    later = (datetime.now(UTC) + timedelta(minutes=11)).isoformat()
    first = json.loads(c.cli("tickets", "sweep", "--now", later, "--json").stdout)
    # Other tests' tickets share this server, so count at least this one; the second pass finds nothing new.
    assert first["breached"] >= 1
    assert first["escalated"] >= 1
    second = json.loads(c.cli("tickets", "sweep", "--now", later, "--json").stdout)
    assert (second["breached"], second["escalated"]) == (0, 0)
    t = httpx.get(f"{c.base_url}/api/v1/tickets/{number}", headers=eng).json()
    assert t["sla"]["response"]["marks"][-1:] == ["breached"]
    assert t["escalations"] == ["lead"]

    # The webhook of the breach is queued as of the injected time, so the server sends it then.
    assert (
        'upkeep_sla_breaches_total{customer="acme",kind="response"}'
        in httpx.get(f"{c.base_url}/metrics").text
    )


def test_maintenance_engineers_and_kb_endpoints(site: tuple[Collector, Receiver, Mailbox]) -> None:
    c, _, _ = site
    base = c.base_url
    admin = auth(c.token("admin"))
    eng = auth(c.token("engineer"))
    globex = auth(c.token("viewer", customer="globex"))
    r = httpx.post(
        f"{base}/api/v1/maintenance",
        json={"customer": "acme", "duration": "1h", "reason": "ups"},
        headers=eng,
    )
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    assert r.json()["open"] is True
    assert wid in [w["id"] for w in httpx.get(f"{base}/api/v1/maintenance", headers=eng).json()]
    assert httpx.get(f"{base}/api/v1/maintenance", headers=globex).json() == []
    bad = httpx.post(
        f"{base}/api/v1/maintenance",
        json={"customer": "acme", "recurrence": {"days": ["funday"], "at": "02:00", "duration": "1h"}},
        headers=eng,
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "recurrence.days")
    # An empty or ill-typed window is refused with its field named, never a 500.
    for body, field in (({}, "customer"), ({"hosts": [1]}, "hosts"), ({"labels": {"a": 1}}, "labels")):
        r = httpx.post(f"{base}/api/v1/maintenance", json=body, headers=eng)
        assert (r.status_code, r.json()["field"]) == (422, field), r.text
    assert httpx.post(f"{base}/api/v1/maintenance/{wid}/end", headers=globex).status_code == 403
    assert httpx.post(f"{base}/api/v1/maintenance/{wid}/end", headers=eng).status_code == 204
    assert wid not in [w["id"] for w in httpx.get(f"{base}/api/v1/maintenance", headers=eng).json()]

    new = {
        "name": "zhou",
        "skills": ["oracle"],
        "shifts": [{"days": ["sat", "sun"], "start": "08:00", "end": "20:00"}],
    }
    assert httpx.post(f"{base}/api/v1/engineers", json=new, headers=eng).status_code == 403
    assert httpx.post(f"{base}/api/v1/engineers", json=new, headers=admin).status_code == 201
    assert httpx.post(f"{base}/api/v1/engineers", json={"name": "li"}, headers=admin).status_code == 409
    wrong = httpx.post(f"{base}/api/v1/engineers", json={"name": "x", "role": "boss"}, headers=admin)
    assert (wrong.status_code, wrong.json()["field"]) == (422, "role")
    names = [e["name"] for e in httpx.get(f"{base}/api/v1/engineers", headers=eng).json()]
    assert "zhou" in names
    assert "li" in names
    assert httpx.delete(f"{base}/api/v1/engineers/zhou", headers=admin).status_code == 204
    assert httpx.delete(f"{base}/api/v1/engineers/zhou", headers=admin).status_code == 404
    assert httpx.get(f"{base}/api/v1/kb", params={"q": ""}, headers=eng).status_code == 422
