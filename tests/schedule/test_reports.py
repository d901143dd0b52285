"""Report rendering: self-contained HTML with SVG charts, Markdown and JSON that agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from collector.core.service_figures import engineer_figures, service_figures
from collector.reports import charts
from collector.reports.render import render, render_all
from tests.schedule.report_checks import assert_html_matches_json, parse_html
from tests.schedule.test_service_figures import MARCH, TICKETS

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def _trend(values: list[float]) -> list[list[float]]:
    return [[T0 + i * 86400, v] for i, v in enumerate(values)]


def inspection_model() -> dict[str, Any]:
    return {
        "kind": "inspection", "id": 7, "status": "completed", "trigger": "schedule",
        "customer": {"name": "acme", "display_name": "ACME <Shanghai> & Co", "timezone": "Asia/Shanghai"},
        "contract": {"window": "5x8", "warranty_end": "2027-01-10", "support_end": "2028-01-10"},
        "period": {"label": "2026-03", "start": T0, "end": T0 + 31 * 86400},
        "started_at": T0 + 31 * 86400, "finished_at": T0 + 31 * 86400 + 60,
        "generated_at": T0 + 31 * 86400 + 61,
        "summary": {"hosts": 2, "inspected": 1, "not_inspected": 1, "findings": 2, "tickets_opened": 1,
                    "by_severity": {"critical": 1, "major": 1, "warning": 0, "info": 0}},
        "findings": [
            {"key": "db1:disk-fill:/var", "host": "db1", "severity": "critical", "category": "capacity",
             "title": "/var on db1 is predicted to fill in 5 days", "details": "x < y & z",
             "recommendation": "Free space", "ticket": "T-12", "evidence": {}},
            {"key": "fw1:not-inspected", "host": "fw1", "severity": "major", "category": "inspection",
             "title": "fw1 was not inspected: connection refused", "details": "",
             "recommendation": "Check SSH",
             "ticket": None, "evidence": {}},
        ],
        "hosts": [
            {"host": "db1", "inspected": True, "reason": "", "os": "Debian 12", "agent_version": "0.1.0",
             "availability": 0.9991, "reboots": 1, "alerts": 2, "tickets_opened": 1,
             "failing_checks": [{"name": "ntp", "status": 2, "output": "offset 3 s"}],
             "steps": [{"name": "uptime", "status": "ok", "summary": ""}],
             "observations": ["/: 40 % used"],
             "trends": {"cpu": _trend([0.2, 0.4, 0.3]), "memory": _trend([0.5, 0.55, 0.6]),
                        "load": _trend([1.0, 2.0, 1.5]),
                        "filesystems": [{"mountpoint": "/var", "used": 0.9, "days_until_full": 5.0,
                                         "trend": _trend([0.8, 0.85, 0.9])}]}},
            {"host": "fw1", "inspected": False, "reason": "connection refused", "os": "",
             "agent_version": None,
             "availability": None, "reboots": 0, "alerts": 0, "tickets_opened": 0, "failing_checks": [],
             "steps": [], "observations": [],
             "trends": {"cpu": [], "memory": [], "load": [], "filesystems": []}},
        ],
    }


def monthly_model() -> dict[str, Any]:
    return {
        "kind": "monthly", "customer": {"name": "acme", "display_name": "", "timezone": "UTC"},
        "contract": {"window": "7x24", "warranty_end": None, "support_end": None},
        "period": {"label": "2026-03", "start": MARCH.start.timestamp(), "end": MARCH.end.timestamp()},
        "generated_at": MARCH.end.timestamp() + 3600,
        "figures": service_figures(TICKETS, MARCH).to_dict(),
        "inspections": [{"id": 7, "started_at": T0, "status": "completed",
                         "by_severity": {"critical": 1, "major": 1, "warning": 0, "info": 3},
                         "findings": [{"severity": "critical", "title": "disk", "host": "db1"}]}],
        "availability": [{"host": "db1", "availability": 0.99912}, {"host": "fw1", "availability": None}],
    }


def test_the_inspection_report_is_self_contained_findings_first_and_escaped() -> None:
    docs = render_all(inspection_model())
    html = docs["html"]
    checker = parse_html(html)
    assert {"svg", "polyline", "table"} <= checker.tags
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.index('id="findings"') < html.index('id="hosts"') < html.index('id="trends"')
    assert html.index("predicted to fill") < html.index("was not inspected"), "most severe first"
    assert "ACME &lt;Shanghai&gt; &amp; Co" in html
    assert "x &lt; y &amp; z" in html
    assert_html_matches_json(html, docs["json"])
    md = docs["md"]
    assert md.startswith("# Preventive inspection: ACME <Shanghai> & Co — 2026-03")
    assert "### [CRITICAL] /var on db1 is predicted to fill in 5 days" in md
    assert "| fw1 | no: connection refused |" in md
    # Times are the customer's: 1 April 00:00 UTC is 08:00 in Shanghai.
    assert "2026-04-01 08:00" in md


def test_the_monthly_report_shows_the_figures_of_the_json() -> None:
    docs = render_all(monthly_model())
    figures = assert_html_matches_json(docs["html"], docs["json"], at_least=15)
    assert figures["figures.response.percent"] == "50.0%"
    assert figures["figures.resolution.percent"] == "25.0%"
    assert figures["figures.mtta_seconds"] == "19 min"
    assert "hotline busy" in docs["html"]
    assert "replaced a fan" in docs["html"]
    md = docs["md"]
    assert "| First response | 2 | 2 | 50.0% |" in md
    assert "| Resolution | 1 | 3 | 25.0% |" in md
    assert "- T2 (2/5): slow" in md


def test_the_engineer_figures_report() -> None:
    rows = [dict(e.to_dict(), display_name="") for e in engineer_figures(TICKETS, MARCH)]
    model = {"kind": "engineers", "period": {"label": "2026-03", "start": 0, "end": 0}, "generated_at": 0,
             "engineers": rows}
    docs = render_all(model)
    figures = assert_html_matches_json(docs["html"], docs["json"], at_least=8)
    assert figures["engineers.0.sla.percent"] == "33.3%"
    assert "| li | 3 | 1 | 2 | 33.3% |" in docs["md"]


def test_charts_handle_empty_and_flat_series() -> None:
    empty = charts.line_chart([("cpu", [])], title="CPU")
    assert "no data for this period" in empty
    flat = charts.line_chart([("cpu", [(T0, 0.0), (T0 + 60, 0.0)])], title="<CPU>", unit="%")
    parse_html(flat)
    assert "&lt;CPU&gt;" in flat
    assert "<rect" in charts.bar_chart([("a", 0.0)], title="t")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        render(inspection_model(), "pdf")
