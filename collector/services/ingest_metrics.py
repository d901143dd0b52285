"""The ingest area's /metrics figures (docs/metrics.md), one set per AppContext."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from collector.core.window import RecentWindow
from collector.store.engine import store_size_bytes
from collector.store.inventory import host_counts

REJECT_REASONS = (
    "unauthorized",
    "forbidden",
    "invalid",
    "too_large",
    "rate_limited",
    "overloaded",
    "unavailable",
)


class InventoryFigures(Collector):
    """``upkeep_hosts{customer,status}`` and ``upkeep_store_size_bytes``, read from the store at scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hosts = GaugeMetricFamily("upkeep_hosts", "hosts in the inventory", labels=["customer", "status"])
        with self._engine.connect() as conn:
            for customer, status, n in host_counts(conn):
                hosts.add_metric([customer, status], n)
        yield hosts
        yield GaugeMetricFamily(
            "upkeep_store_size_bytes", "database size", value=store_size_bytes(self._engine)
        )


class WindowFigures(Collector):
    """``upkeep_window_series{metric}`` and ``upkeep_window_depth_seconds{metric}``: what the recent
    window holds, per metric name (the window is the collector's largest use of memory)."""

    def __init__(self, window: RecentWindow) -> None:
        self._window = window

    def collect(self) -> Iterator[GaugeMetricFamily]:
        series = GaugeMetricFamily("upkeep_window_series", "series in the recent window", labels=["metric"])
        depth = GaugeMetricFamily(
            "upkeep_window_depth_seconds",
            "how far back the recent window keeps the metric's samples (as far as the rules read it)",
            labels=["metric"],
        )
        for name, n, far in sorted(self._window.census()):
            series.add_metric([name], n)
            depth.add_metric([name], far)
        yield series
        yield depth


class IngestMetrics:
    def __init__(self, engine: Engine, window: RecentWindow) -> None:
        self.reports = Counter("upkeep_reports_ingested", "reports durably stored", registry=None)
        self.samples = Counter("upkeep_samples_ingested", "samples stored", registry=None)
        self.duplicates = Counter(
            "upkeep_reports_duplicate", "repeated (agent, seq) acknowledged again", registry=None
        )
        self.rejected = Counter("upkeep_reports_rejected", "refused reports", ["reason"], registry=None)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        self.latency = Histogram(
            "upkeep_ingest_latency_seconds",
            "request received to durably stored",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=None,
        )
        self.inventory = InventoryFigures(engine)
        self.window = WindowFigures(window)

    def collectors(self) -> list[Collector]:
        return [
            self.reports, self.samples, self.duplicates, self.rejected, self.latency, self.inventory,
            self.window,
        ]

    def stored(self, new: int, duplicate: int, samples: int) -> None:
        if new:
            self.reports.inc(new)
            self.samples.inc(samples)
        if duplicate:
            self.duplicates.inc(duplicate)

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason).inc()
