"""The ticket service in-process, on a real SQLite store, with time injected through a FixedClock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from collector.core.alerting.model import AlertChange, fingerprint
from collector.errors import Conflict, Forbidden, InvalidInput
from collector.store import tickets as store

REPORT = {"cause": "disk full", "actions": "rotated logs", "result": "40 % free", "parts": []}


def change(
    state: str, at: Any, *, host: str = "db1", name: str = "DiskAlmostFull", **ann: str
) -> AlertChange:
    labels = {"alertname": name, "host": host, "customer": "acme", "severity": "critical"}
    return AlertChange(
        alertname=name,
        fingerprint=fingerprint(labels),
        labels=labels,
        annotations={"summary": "Disk full", **ann},
        state=state,
        active_at=at,
        fired_at=at if state == "firing" else None,
        resolved_at=at if state == "resolved" else None,
        value=97.0,
    )


def count(ctx: Any, table: Any, *where: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_an_alert_opens_one_ticket_and_refiring_updates_it(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    now = clock.now()
    svc.alerts_changed([change("firing", now)], now)
    svc.alerts_changed([change("firing", now)], now + timedelta(seconds=30))
    [t] = svc.list()
    assert t["number"] == "T-2026-000001"
    assert (t["priority"], t["state"], t["assignee"]) == ("critical", "assigned", "li")
    svc.alerts_changed([change("resolved", now + timedelta(minutes=5))], now + timedelta(minutes=5))
    detail = svc.show(t["number"], now=now + timedelta(minutes=5))
    assert detail["alert_state"] == "resolved"
    assert "alert_resolved" in [e["kind"] for e in detail["events"]]
    # Re-firing while open: still the one ticket.
    svc.alerts_changed([change("firing", now + timedelta(minutes=6))], now + timedelta(minutes=6))
    assert count(ctx, store.tickets) == 1


def test_the_database_refuses_a_second_open_ticket_for_the_same_alert(make_ctx: Any) -> None:
    ctx, _clock = make_ctx()
    values = {
        "customer": "acme",
        "source": "alert",
        "title": "x",
        "priority": "normal",
        "state": "new",
        "opened_at": 0.0,
        "updated_at": 0.0,
        "cycle_started_at": 0.0,
        "open_key": "db1|abc",
        "category": "",
        "description": "",
        "severity": "",
        "contact": {},
        "labels": {},
        "annotations": {},
        "skills": [],
        "pauses": [],
        "flapping": False,
        "flap_changes": [],
        "reopen_count": 0,
    }
    with ctx.engine.begin() as conn:
        assert store.insert_ticket(conn, dict(values), "T", 2026) is not None
        assert store.insert_ticket(conn, dict(values), "T", 2026) is None
    assert count(ctx, store.tickets) == 1


def test_one_hertz_flapping_for_five_minutes_keeps_one_ticket_marked_flapping(make_ctx: Any) -> None:
    ctx, clock = make_ctx({"tickets": {"auto_resolve_quiet": "30s"}})
    svc = ctx.areas["tickets"]
    t0 = clock.now()
    for i in range(300):
        at = t0 + timedelta(seconds=i)
        svc.alerts_changed([change("firing" if i % 2 == 0 else "resolved", at)], at)
        if i % 15 == 0:
            svc.sweep(at)  # the sweep runs meanwhile and must not auto-resolve a flapping ticket
    [t] = svc.list()
    assert t["flapping"] is True
    assert t["state"] == "assigned"
    kinds = [e["kind"] for e in svc.show(t["number"], now=t0)["events"]]
    assert kinds.count("flapping_started") == 1
    assert len(kinds) < 30  # flips are not each an event
    # Calm again: resolved for good, the flag clears once, then the quiet period resolves it.
    calm = t0 + timedelta(seconds=300)
    svc.alerts_changed([change("resolved", calm)], calm)
    for m in range(1, 90):
        svc.sweep(calm + timedelta(minutes=m))
    t = svc.show(t["number"], now=calm)
    assert t["flapping"] is False
    assert t["state"] == "resolved"
    assert [e["kind"] for e in t["events"]].count("flapping_stopped") == 1
    assert count(ctx, store.tickets) == 1


def test_the_sweep_breaches_and_escalates_exactly_once_across_restarts(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    t = svc.open_request(
        customer="acme", title="Mail server slow", urgency="high", actor="hotline", now=clock.now()
    )
    assert t.priority == "major"
    later = clock.now() + timedelta(minutes=11)  # response target: 10 minutes
    first = svc.sweep(later)
    assert first["breached"] == 1
    assert first["escalated"] == 1  # the lead, at the response breach
    assert svc.sweep(later)["breached"] == 0
    ctx.close()
    ctx2, _ = make_ctx()
    svc2 = ctx2.areas["tickets"]
    again = svc2.sweep(later + timedelta(minutes=1))
    assert (again["breached"], again["escalated"]) == (0, 0)
    # Past the resolution deadline (1 business day = 24 h in 7x24): the expert, then 4 h later the manager.
    day = clock.now() + timedelta(hours=24, minutes=1)
    assert svc2.sweep(day)["escalated"] == 1
    assert svc2.sweep(day + timedelta(hours=4))["escalated"] == 1
    assert svc2.sweep(day + timedelta(hours=5))["escalated"] == 0
    detail = svc2.show(t.number, now=day)
    assert detail["escalations"] == ["lead", "expert", "manager"]
    notified = [e["data"]["notify"] for e in detail["events"] if e["kind"] == "escalate"]
    assert notified == [["boss"], ["sage"], ["chief"]]
    assert count(ctx2, store.outbox, store.outbox.c.kind == "escalated") == 0  # no webhooks/SMTP configured


def test_waiting_on_the_customer_stops_the_clock(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    t = svc.open_request(customer="acme", title="VPN", actor="hotline", now=clock.now())
    svc.act(t.number, "ack", actor="li", now=clock.now() + timedelta(minutes=1))
    svc.act(
        t.number, "wait", actor="li", data={"reason": "needs logs"}, now=clock.now() + timedelta(minutes=10)
    )
    assert svc.sweep(clock.now() + timedelta(hours=5))["breached"] == 0
    d = svc.act(t.number, "resume", actor="li", now=clock.now() + timedelta(hours=5))
    # 60 min target, 10 min used before the pause: due 50 min after resuming.
    assert d["sla"]["resolution"]["due"] == "2026-11-26T15:50:00Z"


def test_surveys_one_reopens_and_tells_the_lead_five_closes(make_ctx: Any) -> None:
    ctx, clock = make_ctx({"notifications": {"smtp": {"host": "127.0.0.1", "port": 2525}}})
    svc = ctx.areas["tickets"]
    now = clock.now()
    t = svc.open_request(customer="acme", title="Backup failed", actor="hotline", now=now)
    with pytest.raises(InvalidInput) as info:
        svc.act(t.number, "resolve", actor="li", data={"report": {"cause": "x"}}, now=now)
    assert info.value.field == "report.actions"
    svc.act(t.number, "resolve", actor="li", data={"report": REPORT}, now=now)
    d = svc.act(t.number, "survey", actor="li", data={"rating": 1, "comment": "still failing"}, now=now)
    assert d["state"] == "assigned"
    assert d["reopen_count"] == 1
    lead_mail = count(
        ctx, store.outbox, store.outbox.c.target == "boss@example.test", store.outbox.c.kind == "reopened"
    )
    assert lead_mail == 1
    svc.act(t.number, "resolve", actor="li", data={"report": REPORT}, now=now + timedelta(minutes=5))
    link = svc.show(t.number, now=now + timedelta(minutes=5))["survey_link"]
    token = link.rsplit("/", 1)[1]
    with pytest.raises(Forbidden, match="tampered"):
        svc.survey_by_link(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), 5, "", now)
    assert svc.survey_by_link(token, 5, "great", now + timedelta(minutes=6))["state"] == "closed"
    with pytest.raises(Conflict):
        svc.survey_by_link(token, 5, "again", now + timedelta(minutes=7))
    with pytest.raises(Forbidden, match="expired"):
        svc.survey_by_link(token, 5, "", now + timedelta(days=30))
    with ctx.engine.connect() as conn:
        ratings = [r.rating for r in conn.execute(select(store.surveys).order_by(store.surveys.c.id))]
    assert ratings == [1, 5]


def test_an_unanswered_survey_closes_without_rating(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    t = svc.open_request(customer="acme", title="x", actor="hotline", now=clock.now())
    svc.act(t.number, "resolve", actor="li", data={"report": REPORT}, now=clock.now())
    assert svc.sweep(clock.now() + timedelta(days=7, seconds=1))["survey_closed"] == 1
    assert svc.show(t.number, now=clock.now())["state"] == "closed"


def test_invalid_transition_names_the_allowed_ones(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    t = svc.open_request(customer="acme", title="x", actor="hotline", now=clock.now())
    with pytest.raises(Conflict) as info:
        svc.act(t.number, "close", actor="li", now=clock.now())
    assert "resolve" in info.value.allowed
    with pytest.raises(InvalidInput, match="unknown engineer"):
        svc.act(t.number, "assign", actor="li", data={"engineer": "nobody"}, now=clock.now())
    with pytest.raises(InvalidInput, match="unknown customer"):
        svc.open_request(customer="initech", title="x", actor="hotline", now=clock.now())


def test_findings_do_not_duplicate_while_open(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    first = svc.open_from_finding(
        "acme", "db1", "disk-trend", "Disk fills in 9 days", "warning", {"used": "81%"}, clock.now()
    )
    assert first is not None
    assert first.source == "inspection"
    assert svc.open_from_finding("acme", "db1", "disk-trend", "again", "warning", None, clock.now()) is None


def test_maintenance_suppresses_then_a_fault_left_behind_opens_its_ticket(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    now = clock.now()
    w = svc.add_maintenance(actor="li", now=now, customer="acme", duration="1h", reason="firmware")
    svc.alerts_changed([change("firing", now + timedelta(minutes=5))], now + timedelta(minutes=5))
    svc.alerts_changed([change("firing", now, host="db2")], now + timedelta(minutes=6))
    svc.alerts_changed([change("resolved", now, host="db2")], now + timedelta(minutes=7))
    assert svc.list() == []
    assert count(ctx, store.suppressed_alerts) == 2
    assert svc.sweep(now + timedelta(minutes=30))["released"] == 0
    assert svc.sweep(now + timedelta(minutes=61))["released"] == 1
    [t] = svc.list()
    assert t["host"] == "db1"
    assert "after_maintenance" in [e["kind"] for e in svc.show(t["number"], now=now)["events"]]
    assert svc.list_maintenance(now=now + timedelta(hours=2)) == []
    assert svc.list_maintenance(now=now + timedelta(hours=2), include_finished=True)[0]["id"] == w["id"]


def test_business_hours_and_holidays_set_the_deadline(make_ctx: Any) -> None:
    ctx, _clock = make_ctx()
    svc = ctx.areas["tickets"]
    # Wednesday 30 September 2026, 19:00 in Shanghai: China's National Day week follows.
    from datetime import UTC, datetime

    opened = datetime(2026, 9, 30, 11, 0, tzinfo=UTC)
    t = svc.open_request(customer="globex", title="ERP down", urgency="normal", actor="hotline", now=opened)
    d = svc.show(t.number, now=opened)
    # 30 min response: 30 min left on the 30th, so due at 19:30 Shanghai that day.
    assert d["sla"]["response"]["due"] == "2026-09-30T11:30:00Z"
    # 60 min resolution: the remaining 30 min fall on the first working day after the holidays.
    due = d["sla"]["resolution"]["due"]
    assert due > "2026-10-08"
    assert due.endswith("T02:00:00Z")  # 10:00 Shanghai


def test_alertmanager_payload_maps_each_alert_and_refuses_bad_input(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "upkeep",
        "groupKey": "{}:{}",
        "commonLabels": {"customer": "acme", "severity": "major"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HostDown", "instance": "web1:9100"},
                "annotations": {"summary": "web1 down"},
                "startsAt": "2026-11-26T09:59:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "aaaa",
            },
            {
                "status": "firing",
                "labels": {"alertname": "HostDown", "instance": "web2:9100"},
                "annotations": {},
                "startsAt": "2026-11-26T09:59:00Z",
            },
        ],
    }
    results = svc.alertmanager(payload, clock.now())
    assert [r["result"] for r in results] == ["opened", "opened"]
    assert svc.alertmanager(payload, clock.now())[0]["result"] == "updated"
    assert {t["host"] for t in svc.list()} == {"web1", "web2"}
    for bad, field in (
        ({**payload, "version": "3"}, "version"),
        ({**payload, "alerts": [{"status": "weird"}]}, "alerts.0.status"),
        ({**payload, "commonLabels": {"customer": "initech"}}, "customer"),
    ):
        with pytest.raises(InvalidInput) as info:
            svc.alertmanager(bad, clock.now())
        assert info.value.field.startswith(field.split(".")[0])
    assert len(svc.list()) == 2


class FakeDiagnosis:
    """Stands in for the diagnosis area at the AppContext seam: records what it was asked."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.calls: list[tuple[Any, ...]] = []

    def allowed_automatically(self, playbook: str, host: str) -> bool:
        return self.allowed

    def run_playbook(
        self, name: str, targets: list[str], params: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        self.calls.append((name, tuple(targets), kw["trigger"], kw["ticket_id"]))
        return {"run_id": "r1", "status": "ok", "findings": [{"key": "disk", "severity": "warning"}]}


@pytest.mark.parametrize("allowed", [True, False])
def test_an_alerts_playbook_runs_off_the_request_path_and_is_attached(make_ctx: Any, allowed: bool) -> None:
    ctx, clock = make_ctx()
    diag = FakeDiagnosis(allowed)
    ctx.areas["diagnosis"] = diag
    svc = ctx.areas["tickets"]
    now = clock.now()
    svc.alerts_changed([change("firing", now, playbook="disk-usage")], now)
    assert diag.calls == []  # queued, not run while the alert was handled
    svc.outbox.drain(ctx.engine, now.timestamp(), channels=["diagnosis"])
    [t] = svc.list()
    kinds = {e["kind"]: e["data"] for e in svc.show(t["number"], now=now)["events"]}
    if allowed:
        assert diag.calls == [("disk-usage", ("db1",), "ticket", t["number"])]
        assert kinds["attach"]["run_id"] == "r1"
        assert kinds["attach"]["findings"][0]["key"] == "disk"
    else:
        assert diag.calls == []
        assert "diagnosis_skipped" in kinds


def test_knowledge_shows_earlier_resolutions_and_articles(make_ctx: Any, tmp_path: Any) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "disk.md").write_text("---\ntitle: Disk full\nalerts: [DiskAlmostFull]\n---\nRotate the logs.\n")
    ctx, clock = make_ctx({"tickets": {"knowledge_path": str(kb)}})
    svc = ctx.areas["tickets"]
    now = clock.now()
    svc.alerts_changed([change("firing", now)], now)
    [t] = svc.list()
    svc.act(t["number"], "resolve", actor="li", data={"report": REPORT}, now=now)
    svc.act(t["number"], "close", actor="li", now=now)
    later = now + timedelta(days=3)
    svc.alerts_changed([change("firing", later)], later)
    newest = svc.list()[0]
    assert newest["number"] != t["number"]
    k = svc.show(newest["number"], now=later)["knowledge"]
    assert k["resolutions"][0]["number"] == t["number"]
    assert k["resolutions"][0]["cause"] == "disk full"
    assert k["articles"] == [{"path": "disk.md", "title": "Disk full"}]
    found = svc.kb_search("rotated logs")
    assert found["resolutions"][0]["number"] == t["number"]
    assert svc.kb_search("rotate")["articles"][0]["path"] == "disk.md"


def test_a_closed_alert_ticket_reopened_by_hand_takes_its_alert_back(make_ctx: Any) -> None:
    ctx, clock = make_ctx()
    svc = ctx.areas["tickets"]
    now = clock.now()
    svc.alerts_changed([change("firing", now)], now)
    [t] = svc.list()
    svc.act(t["number"], "resolve", actor="li", data={"report": REPORT}, now=now)
    svc.act(t["number"], "survey", actor="li", data={"rating": 4}, now=now)
    svc.act(t["number"], "reopen", actor="li", data={"reason": "it is back"}, now=now + timedelta(hours=1))
    later = now + timedelta(hours=2)
    svc.alerts_changed([change("resolved", later)], later)
    svc.alerts_changed([change("firing", later + timedelta(minutes=1))], later + timedelta(minutes=1))
    assert [x["number"] for x in svc.list()] == [t["number"]]
    # The at-risk figure reads the marks of open tickets.
    from prometheus_client import CollectorRegistry, generate_latest

    # Reopened at +1 h: the new resolution cycle (1 business day = 24 h) is at risk after 80 %.
    assert svc.sweep(now + timedelta(hours=1 + 20))["at_risk"] == 1
    registry = CollectorRegistry()
    registry.register(
        ctx.metrics[-1]
        if hasattr(ctx.metrics[-1], "svc")
        else next(m for m in ctx.metrics if type(m).__name__ == "TicketMetrics")
    )
    text = generate_latest(registry).decode()
    assert 'upkeep_tickets_at_risk{customer="acme"} 1.0' in text
    assert 'upkeep_tickets_open{customer="acme",priority="critical",state="assigned"} 1.0' in text
