"""The ticket figures on ``/metrics``, computed from the database at scrape time.

Because they are read from the store, every collector process behind a load balancer
gives the same numbers, and a restart loses nothing. Names are fixed in docs/metrics.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from collector.store import tickets as store
from collector.store.tickets import OPEN_STATES

if TYPE_CHECKING:
    from collector.services.ticket_base import TicketBase

# Business seconds: 5 min .. 2 business days.
DURATION_BUCKETS = (300.0, 600.0, 1800.0, 3600.0, 2 * 3600.0, 4 * 3600.0, 8 * 3600.0, 86400.0, 2 * 86400.0)
RATING_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0)


def _histogram(values: Sequence[float], bounds: Sequence[float]) -> tuple[list[tuple[str, float]], float]:
    buckets = [(str(b), float(sum(1 for v in values if v <= b))) for b in bounds]
    buckets.append(("+Inf", float(len(values))))
    return buckets, float(sum(values))


class TicketMetrics(Collector):
    def __init__(self, svc: TicketBase) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Any]:
        t, m, s = store.tickets, store.sla_marks, store.surveys
        with self.svc.engine.connect() as conn:
            open_rows = conn.execute(
                select(t.c.customer, t.c.priority, t.c.state, func.count())
                .where(t.c.state.in_(OPEN_STATES))
                .group_by(t.c.customer, t.c.priority, t.c.state)
            ).all()
            opened = conn.execute(
                select(t.c.customer, t.c.source, func.count()).group_by(t.c.customer, t.c.source)
            ).all()
            outcome = conn.execute(
                select(m.c.customer, m.c.kind, m.c.mark, func.count())
                .where(m.c.mark.in_(("met", "breached")))
                .group_by(m.c.customer, m.c.kind, m.c.mark)
            ).all()
            durations = conn.execute(
                select(m.c.customer, t.c.priority, m.c.kind, m.c.elapsed)
                .join(t, t.c.id == m.c.ticket_id)
                .where(
                    m.c.kind.in_(("response", "resolution")),
                    m.c.mark.in_(("met", "breached")),
                    m.c.elapsed.is_not(None),
                )
            ).all()
            at_risk = conn.execute(
                select(t.c.customer, func.count(func.distinct(t.c.id)))
                .join(m, m.c.ticket_id == t.c.id)
                .where(
                    t.c.state.in_(OPEN_STATES), m.c.mark == "at_risk", m.c.cycle.in_((0, t.c.reopen_count))
                )
                .group_by(t.c.customer)
            ).all()
            ratings = conn.execute(
                select(s.c.customer, s.c.engineer, s.c.rating).where(s.c.rating.is_not(None))
            ).all()

        g = GaugeMetricFamily("upkeep_tickets_open", "Open tickets", labels=["customer", "priority", "state"])
        for customer, priority, state, n in open_rows:
            g.add_metric([customer, priority, state], n)
        yield g
        c = CounterMetricFamily("upkeep_tickets_opened", "Tickets opened", labels=["customer", "source"])
        for customer, source, n in opened:
            c.add_metric([customer, source], n)
        yield c
        resolved: dict[tuple[str, str], list[float]] = defaultdict(list)
        response: dict[tuple[str, str], list[float]] = defaultdict(list)
        for customer, priority, kind, elapsed in durations:
            (resolved if kind == "resolution" else response)[(customer, priority)].append(float(elapsed))
        c = CounterMetricFamily(
            "upkeep_tickets_resolved", "Tickets resolved", labels=["customer", "priority"]
        )
        for (customer, priority), values in sorted(resolved.items()):
            c.add_metric([customer, priority], len(values))
        yield c
        for name, data, doc in (
            ("upkeep_ticket_response_seconds", response, "Business time to first response"),
            ("upkeep_ticket_resolution_seconds", resolved, "Business time to resolution"),
        ):
            h = HistogramMetricFamily(name, doc, labels=["customer", "priority"])
            for (customer, priority), values in sorted(data.items()):
                buckets, total = _histogram(values, DURATION_BUCKETS)
                h.add_metric([customer, priority], buckets, total)
            yield h
        met = CounterMetricFamily("upkeep_sla_met", "Deadlines met", labels=["customer", "kind"])
        breached = CounterMetricFamily(
            "upkeep_sla_breaches", "Deadlines breached", labels=["customer", "kind"]
        )
        # A deadline breached by the sweep and later acted on has both marks; count it once, as breached.
        for customer, kind, mark, n in outcome:
            (met if mark == "met" else breached).add_metric([customer, kind], n)
        yield met
        yield breached
        g = GaugeMetricFamily(
            "upkeep_tickets_at_risk", "Open tickets past the at-risk share", labels=["customer"]
        )
        for customer, n in at_risk:
            g.add_metric([customer], n)
        yield g
        per: dict[tuple[str, str], list[float]] = defaultdict(list)
        for customer, engineer, rating in ratings:
            per[(customer, engineer or "")].append(float(rating))
        h = HistogramMetricFamily(
            "upkeep_satisfaction_rating", "Survey ratings (1-5)", labels=["customer", "engineer"]
        )
        for (customer, engineer), values in sorted(per.items()):
            buckets, total = _histogram(values, RATING_BUCKETS)
            h.add_metric([customer, engineer], buckets, total)
        yield h
