"""A full inspection against real sshd hosts: report sections, hosts not inspected, tickets month by month."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from collector.ports import FixedClock
from collector.reports.render import render_all
from collector.services import AppContext
from collector.services.health_record import record_model
from collector.services.inspection_metrics import InspectionMetrics
from collector.services.service_reports import monthly_model
from collector.store.tickets import list_tickets
from tests.schedule.inspection_site import at, build_site, seed_month
from tests.schedule.report_checks import assert_html_matches_json
from tests.support.sshd import SshLab, ssh_lab

pytestmark = [pytest.mark.sshd, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    with ssh_lab(tmp_path_factory.mktemp("sshlab")) as lab:
        lab.start()
        lab.start()
        yield lab


@pytest.fixture
def site(tmp_path: Path, lab: SshLab) -> Iterator[tuple[AppContext, FixedClock]]:
    clock = FixedClock(at(2026, 3, 1))
    ctx = build_site(tmp_path, lab, clock)
    seed_month(ctx, at(2026, 3, 1))
    seed_month(ctx, at(2026, 4, 1))
    yield ctx, clock
    ctx.close()


def _inspection_tickets(ctx: AppContext) -> list[object]:
    with ctx.engine.connect() as conn:
        return [t for t in list_tickets(conn, customers=["acme"], limit=1000) if t.source == "inspection"]


def test_a_monthly_inspection_inspects_reports_and_opens_tickets_once(
    site: tuple[AppContext, FixedClock],
) -> None:
    ctx, clock = site
    svc = ctx.area("inspections")
    clock.set(at(2026, 4, 1, 2))
    first = svc.run("acme", trigger="schedule")

    assert first["status"] == "completed"
    assert first["summary"]["hosts"] == 4
    hosts = {h["host"]: h for h in first["hosts"]}
    assert hosts["web-01"]["inspected"]
    assert hosts["web-02"]["inspected"]
    assert not hosts["gone"]["inspected"]
    assert not hosts["badkey"]["inspected"]
    assert hosts["gone"]["reason"]
    assert hosts["badkey"]["reason"]
    steps = {s["name"] for s in hosts["web-01"]["steps"]}
    assert "quick-inspection: filesystems" in steps, "the playbook ran over SSH"
    keys = {f["key"]: f for f in first["findings"]}
    assert {"gone:not-inspected", "badkey:not-inspected", "web-01:disk-fill:/data", "web-01:check:ntp",
            "web-01:cpu", "web-02:availability"} <= set(keys)
    assert keys["web-01:disk-fill:/data"]["evidence"]["days_until_full"] == pytest.approx(9.1, abs=0.2)
    assert keys["web-02:availability"]["evidence"]["availability"] == pytest.approx(29 / 31, abs=0.001)
    # The period is March, in the customer's time zone.
    assert first["period_start"] == at(2026, 3, 1).timestamp()
    assert first["summary"]["period_label"] == "2026-03"

    tickets = _inspection_tickets(ctx)
    ticketed = {f["key"] for f in first["findings"] if f["severity"] in ("major", "critical")}
    assert len(tickets) == len(ticketed) == first["summary"]["tickets_opened"]
    assert all(keys[k]["ticket"] for k in ticketed)
    assert not any(f["ticket"] for f in first["findings"] if f["severity"] in ("info", "warning"))

    # The report: findings first, every section, figures equal to the JSON, trends as SVG.
    html = svc.report(first["id"], "html")
    assert_html_matches_json(html, svc.report(first["id"], "json"), at_least=8)
    for section in ('id="findings"', 'id="hosts"', 'id="trends"', 'id="contract"'):
        assert section in html
    assert html.index('id="findings"') < html.index('id="trends"')
    assert html.count("<svg") >= 8
    assert "gone was not inspected" in html
    assert "2027-01-10" in html  # warranty end (one year after the contract start)
    md = svc.report(first["id"], "md")
    assert "## Findings and recommendations" in md
    assert "| gone | no:" in md

    # Resolve one ticket; next month the still-open findings do not open tickets again.
    web2 = next(t for t in tickets if t.host == "web-02")
    tsvc = ctx.area("tickets")
    tsvc.act(web2.number, "ack", actor="li", now=clock.now())
    report = {"cause": "power", "actions": "replaced the PSU", "result": "stable", "parts": []}
    tsvc.act(web2.number, "resolve", actor="li", data={"report": report}, now=clock.now())
    clock.set(at(2026, 5, 1, 2))
    second = svc.run("acme", trigger="schedule")
    again = {f["key"]: f for f in second["findings"]}
    assert "web-01:disk-fill:/data" in again
    assert again["web-01:disk-fill:/data"]["ticket"] == keys["web-01:disk-fill:/data"]["ticket"]
    assert second["summary"]["tickets_opened"] == 1, "only the finding whose ticket was resolved"
    assert again["web-02:availability"]["ticket"] != web2.number
    assert len(_inspection_tickets(ctx)) == len(tickets) + 1

    # The monthly service report counts the inspection's tickets and lists the inspection.
    model = monthly_model(ctx, "acme", "2026-04", clock.now())
    assert model["figures"]["by_source"] == {"inspection": len(tickets)}
    assert [i["id"] for i in model["inspections"]] == [first["id"]]
    docs = render_all(model)
    assert_html_matches_json(docs["html"], docs["json"], at_least=10)

    # The health record tells web-01's story; metrics show the latest inspection.
    record = record_model(ctx, "web-01", None, clock.now())
    assert [i["id"] for i in record["inspections"]] == [second["id"], first["id"]]
    assert any(f["key"] == "web-01:disk-fill:/data" for f in record["inspections"][0]["findings"])
    assert record["tickets"]["open"]
    assert any(r["playbook"] == "quick-inspection" for r in record["playbook_runs"])
    assert record["contract"]["warranty_end"] == "2027-01-10"
    registry = CollectorRegistry()
    registry.register(InspectionMetrics(ctx.engine))
    text = generate_latest(registry).decode()
    assert 'upkeep_inspections_total{customer="acme",status="completed"} 2.0' in text
    assert 'upkeep_inspection_findings{customer="acme",severity="major"}' in text
    assert 'upkeep_inspection_last_timestamp_seconds{customer="acme"} 1.7776008e+09' in text  # 1 May 02:00


def test_one_host_can_be_inspected_alone(site: tuple[AppContext, FixedClock]) -> None:
    ctx, clock = site
    clock.set(at(2026, 4, 3))
    record = ctx.area("inspections").run("acme", host="gone")
    assert [h["host"] for h in record["hosts"]] == ["gone"]
    assert next(f["key"] for f in record["findings"]) == "gone:not-inspected"
