"""The inspections' /metrics figures, read from the database at scrape time.

Every collector process answers the same, whichever of them ran the inspections:

- ``upkeep_inspections_total{customer,status}`` inspections finished, by outcome (completed,
  failed); one still running is not counted yet, so no series ever goes down;
- ``upkeep_inspection_findings{customer,severity}`` findings of each customer's latest
  completed inspection;
- ``upkeep_inspection_last_timestamp_seconds{customer}`` when that inspection finished.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from collector.core.inspection import SEVERITIES
from collector.store import schedule as store


class InspectionMetrics(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily("upkeep_inspections", "Inspections finished, by outcome",
                                    labels=["customer", "status"])
        findings = GaugeMetricFamily("upkeep_inspection_findings",
                                     "Findings of each customer's latest completed inspection",
                                     labels=["customer", "severity"])
        last = GaugeMetricFamily("upkeep_inspection_last_timestamp_seconds",
                                 "When each customer's latest completed inspection finished",
                                 labels=["customer"])
        with self._engine.connect() as conn:
            counts = store.inspection_counts(conn)
            latest = store.latest_completed(conn)
        for customer, status, n in counts:
            if status != "running":
                total.add_metric([customer, status], n)
        for row in latest:
            for sev in SEVERITIES:
                findings.add_metric([row["customer"], sev], row["severities"].get(sev, 0))
            if row["finished_at"] is not None:
                last.add_metric([row["customer"]], row["finished_at"])
        yield total
        yield findings
        yield last
