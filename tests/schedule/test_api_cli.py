"""The inspections and reports API and CLI on a real `upkeep serve` (its scheduler running)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.schedule.report_checks import assert_html_matches_json, parse_html
from tests.support.collector import Collector, running_collector

pytestmark = pytest.mark.slow

CONFIG = {"customers": [{"name": "acme", "display_name": "ACME", "timezone": "Asia/Shanghai",
                         "contract": {"starts": "2026-01-10"}},
                        {"name": "globex", "timezone": "Europe/Berlin"}]}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("collector"), CONFIG) as c:
        c.enroll("acme", "a" * 32, "web-01", cpu_count=2)
        c.enroll("globex", "b" * 32, "gx-01")
        yield c


def _get(c: Collector, path: str, token: str, **params: str) -> httpx.Response:
    return httpx.get(f"{c.base_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"},
                     timeout=60)


def test_run_list_show_and_download_an_inspection(collector: Collector) -> None:
    engineer = collector.token("engineer")
    made = httpx.post(f"{collector.base_url}/api/v1/inspections", json={"customer": "acme"},
                      headers={"Authorization": f"Bearer {engineer}"}, timeout=120)
    assert made.status_code == 201, made.text
    body = made.json()
    ident = body["id"]
    # No playbook runner is enabled here, so the host is a finding of its own.
    assert [f["key"] for f in body["findings"] if f["category"] == "inspection"] == ["web-01:not-inspected"]
    listed = _get(collector, "/api/v1/inspections", engineer).json()
    assert ident in [r["id"] for r in listed]
    shown = _get(collector, f"/api/v1/inspections/{ident}", engineer).json()
    assert shown["findings"] == body["findings"]
    html = _get(collector, f"/api/v1/inspections/{ident}/report", engineer, format="html")
    assert html.headers["content-type"].startswith("text/html")
    as_json = _get(collector, f"/api/v1/inspections/{ident}/report", engineer, format="json")
    assert as_json.json()["id"] == ident
    assert_html_matches_json(html.text, as_json.text)
    md = _get(collector, f"/api/v1/inspections/{ident}/report", engineer, format="md")
    assert md.text.startswith("# Preventive inspection: ACME")
    metrics = httpx.get(f"{collector.base_url}/metrics", timeout=60).text
    assert 'upkeep_inspections_total{customer="acme",status="completed"}' in metrics
    assert 'upkeep_inspection_findings{customer="acme",severity="major"}' in metrics
    assert 'upkeep_inspection_last_timestamp_seconds{customer="acme"}' in metrics
    bad = _get(collector, f"/api/v1/inspections/{ident}/report", engineer, format="pdf")
    assert bad.status_code == 422
    assert bad.json()["field"] == "format"


def test_another_customers_token_sees_the_same_404(collector: Collector) -> None:
    engineer = collector.token("engineer")
    ident = httpx.post(f"{collector.base_url}/api/v1/inspections", json={"customer": "acme"},
                       headers={"Authorization": f"Bearer {engineer}"}, timeout=120).json()["id"]
    globex = collector.token("viewer", customer="globex")
    for path in (f"/api/v1/inspections/{ident}", f"/api/v1/inspections/{ident}/report",
                 "/api/v1/inspections/999999", "/api/v1/hosts/web-01/record"):
        r = _get(collector, path, globex)
        assert r.status_code == 404, path
        assert "not found" in r.json()["error"]
    assert _get(collector, "/api/v1/inspections", globex).json() == []
    other = _get(collector, "/api/v1/reports/monthly", globex, customer="acme", month="2026-10")
    assert other.status_code == 404
    scoped_engineer = collector.token("engineer", customer="globex")
    r = _get(collector, "/api/v1/reports/engineers", scoped_engineer, month="2026-10")
    assert r.status_code == 403


def test_health_record_and_reports_over_http(collector: Collector) -> None:
    viewer = collector.token("viewer")
    record = _get(collector, "/api/v1/hosts/web-01/record", viewer).json()
    assert record["host"]["name"] == "web-01"
    assert record["contract"]["warranty_end"] == "2027-01-10"
    assert set(record) >= {"tickets", "alerts", "playbook_runs", "inspections", "trends", "figures"}
    monthly = _get(collector, "/api/v1/reports/monthly", viewer, customer="acme", month="2026-10",
                   format="html")
    assert monthly.status_code == 200
    parse_html(monthly.text)
    bad = _get(collector, "/api/v1/reports/monthly", viewer, customer="acme", month="October")
    assert bad.status_code == 422
    assert bad.json()["field"] == "month"
    engineer = collector.token("engineer")
    figures = _get(collector, "/api/v1/reports/engineers", engineer, month="2026-10").json()
    assert figures["kind"] == "engineers"
    wanted = {"inspection:acme", "service-report:acme", "inspection:globex"}
    # The server stores its jobs when its scheduler takes the lead, just after start-up.
    deadline = time.monotonic() + 60
    while True:
        jobs = _get(collector, "/api/v1/schedule", engineer).json()
        if wanted <= {j["id"] for j in jobs} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert wanted <= {j["id"] for j in jobs}
    acme = next(j for j in jobs if j["id"] == "inspection:acme")
    assert acme["next_run_local"].endswith("T02:00:00+08:00")


def test_the_command_line(collector: Collector, tmp_path: Path) -> None:
    listed = collector.cli("schedule", "list").stdout
    line = next(x for x in listed.splitlines() if x.startswith("inspection:acme "))
    assert "02:00 CST" in line
    assert "Asia/Shanghai" in line
    out = collector.cli("inspect", "run", "--customer", "acme", "--json").stdout
    ident = json.loads(out)["id"]
    assert f"{ident:>5}  acme" in collector.cli("inspect", "list").stdout
    assert "NOT inspected" in collector.cli("inspect", "show", str(ident)).stdout
    target = tmp_path / "report.html"
    collector.cli("inspect", "report", str(ident), "--format", "html", "-o", str(target))
    parse_html(target.read_text(encoding="utf-8"))
    monthly = collector.cli("report", "monthly", "--customer", "acme", "--month", "2026-10",
                            "--format", "json")
    assert json.loads(monthly.stdout)["period"]["label"] == "2026-10"
    assert "Engineer figures: 2026-10" in collector.cli("report", "engineers", "--month", "2026-10").stdout
    record = collector.cli("hosts", "record", "web-01").stdout
    assert "web-01" in record
    assert "inspections" in record
    missing = collector.cli("hosts", "record", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "upkeep: host nope not found"
