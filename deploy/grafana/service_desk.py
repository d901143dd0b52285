"""The service-desk dashboard: tickets, service commitments, satisfaction, inspections."""

from __future__ import annotations

from typing import Any

from dashboard_model import Layout, bars, dashboard, datasource_variable, graph, stat, table

C = 'customer=~"$customer"'
RANGE = "$__range"
COMPLIANCE = {
    "unit": "percentunit",
    "minimum": 0,
    "maximum": 1,
    "thresholds": ((None, "red"), (0.9, "orange"), (0.95, "green")),
}
RATING = {
    "minimum": 1,
    "maximum": 5,
    "decimals": 2,
    "thresholds": ((None, "red"), (3, "orange"), (4, "green")),
}


def sla_compliance(by: str) -> str:
    """Deadlines met / deadlines met or breached, by a label, over the dashboard's range.

    The denominator sums both counters through a name regex, so the ratio stays defined for a
    customer that has no breach series yet.
    """
    both = '__name__=~"upkeep_sla_met_total|upkeep_sla_breaches_total"'
    return (
        f"sum by ({by}) (increase(upkeep_sla_met_total{{{C}}}[{RANGE}]))"
        f" / sum by ({by}) (increase({{{both},{C}}}[{RANGE}]))"
    )


def histogram_mean(name: str, by: str) -> str:
    return (
        f"sum by ({by}) (increase({name}_sum{{{C}}}[{RANGE}]))"
        f" / sum by ({by}) (increase({name}_count{{{C}}}[{RANGE}]))"
    )


def rating_mean(by: str) -> str:
    return (
        f"sum by ({by}) (upkeep_satisfaction_rating_sum{{{C}}})"
        f" / sum by ({by}) (upkeep_satisfaction_rating_count{{{C}}})"
    )


def service_desk(customer_variable: dict[str, Any]) -> dict[str, Any]:
    open_ = f"upkeep_tickets_open{{{C}}}"
    lay = Layout()
    lay.row("Open tickets")
    # The collector leaves out empty groups, so no series means none: shown as 0.
    lay.add(stat("Open tickets", f"sum({open_}) or vector(0)"))
    lay.add(
        stat(
            "At risk",
            f"sum(upkeep_tickets_at_risk{{{C}}}) or vector(0)",
            thresholds=((None, "green"), (1, "orange")),
            description="Open tickets past the at-risk share of a deadline.",
        )
    )
    lay.add(bars("Open by priority", (f"sum by (priority) ({open_})", "{{priority}}"), width=8, height=5))
    lay.add(bars("Open by state", (f"sum by (state) ({open_})", "{{state}}"), width=8, height=5))
    lay.add(
        graph(
            "Open tickets by customer",
            (f"sum by (customer) ({open_})", "{{customer}}"),
            (
                f"sum by (customer) (upkeep_tickets_at_risk{{{C}}}) or sum by (customer) ({open_}) * 0",
                "{{customer}} at risk",
            ),
        )
    )
    lay.add(
        graph(
            "Tickets opened by source",
            (
                f"sum by (source) (increase(upkeep_tickets_opened_total{{{C}}}[$__rate_interval]))",
                "{{source}}",
            ),
            options={"drawStyle": "bars"},
        )
    )
    lay.row("Service commitments")
    lay.add(
        bars(
            "SLA compliance",
            (sla_compliance("kind"), "{{kind}}"),
            **COMPLIANCE,
            description="Deadlines met out of deadlines met or breached, over the dashboard's range.",
        )
    )
    lay.add(bars("SLA compliance by customer", (sla_compliance("customer"), "{{customer}}"), **COMPLIANCE))
    # A kind with deadlines met but none breached shows 0 rather than nothing.
    lay.add(
        table(
            "Breached deadlines",
            f"sum by (customer, kind) (increase(upkeep_sla_breaches_total{{{C}}}[{RANGE}]))"
            f" or sum by (customer, kind) (increase(upkeep_sla_met_total{{{C}}}[{RANGE}])) * 0",
            description="Over the dashboard's range, per customer and kind (response, resolution, onsite).",
        )
    )
    lay.add(
        stat(
            "MTTA (business time)",
            histogram_mean("upkeep_ticket_response_seconds", "priority"),
            legend="{{priority}}",
            unit="s",
            width=6,
            height=6,
        )
    )
    lay.add(
        stat(
            "MTTR (business time)",
            histogram_mean("upkeep_ticket_resolution_seconds", "priority"),
            legend="{{priority}}",
            unit="s",
            width=6,
            height=6,
        )
    )
    lay.add(
        graph(
            "Resolution time, 90th percentile",
            (
                "histogram_quantile(0.9, sum by (le, priority)"
                f" (rate(upkeep_ticket_resolution_seconds_bucket{{{C}}}[1h])))",
                "{{priority}}",
            ),
            unit="s",
        )
    )
    lay.row("Satisfaction")
    lay.add(bars("Satisfaction by engineer (1..5)", (rating_mean("engineer"), "{{engineer}}"), **RATING))
    lay.add(bars("Satisfaction by customer (1..5)", (rating_mean("customer"), "{{customer}}"), **RATING))
    lay.row("Inspections")
    lay.add(
        bars(
            "Findings of the latest inspection",
            (f"sum by (customer, severity) (upkeep_inspection_findings{{{C}}})", "{{customer}} {{severity}}"),
            width=8,
        )
    )
    lay.add(
        bars(
            "Days since the last inspection",
            (f"(time() - upkeep_inspection_last_timestamp_seconds{{{C}}}) / 86400", "{{customer}}"),
            decimals=1,
            width=8,
            thresholds=((None, "green"), (31, "orange"), (45, "red")),
        )
    )
    lay.add(
        bars(
            "Inspections by status",
            (f"sum by (status) (upkeep_inspections_total{{{C}}})", "{{status}}"),
            width=8,
        )
    )
    return dashboard(
        uid="upkeep-service-desk",
        title="upkeep / Service desk",
        description="Tickets, service commitments, satisfaction and inspections of the selected customers.",
        variables=[datasource_variable(), customer_variable],
        layout=lay,
    )
