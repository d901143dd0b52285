"""The local /metrics endpoint: the last collection's series in the Prometheus text format.

prometheus_client is imported only when a listen address is configured: it adds about
12 MB to the agent's memory, which an agent without /metrics should not carry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from agent.probes import Sample

_HELP = "upkeep-agent: see docs/metrics.md"


def _families(samples: list[Sample]) -> Iterator[Any]:
    from prometheus_client.metrics_core import Metric

    by_name: dict[str, Any] = {}
    for s in samples:
        fam = by_name.get(s.name)
        if fam is None:
            if s.name.endswith("_total"):
                # The client names a counter family without _total and its samples with it.
                fam = Metric(s.name[: -len("_total")], _HELP, "counter")
            else:
                fam = Metric(s.name, _HELP, "gauge")
            by_name[s.name] = fam
        fam.add_sample(s.name, s.labels, s.value)
    yield from by_name.values()


class LatestSamples:
    """A prometheus_client collector serving whatever ``update`` was last given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[Sample] = []

    def update(self, samples: list[Sample]) -> None:
        with self._lock:
            self._samples = list(samples)

    def collect(self) -> Iterator[Any]:
        with self._lock:
            samples = self._samples
        return _families(samples)


def serve(listen: tuple[str, int], latest: LatestSamples) -> Any:
    """Start the /metrics HTTP server in a daemon thread; returns the server (``shutdown()`` stops it)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(latest)
    started = start_http_server(listen[1], addr=listen[0], registry=registry)
    return started[0] if isinstance(started, tuple) else started
