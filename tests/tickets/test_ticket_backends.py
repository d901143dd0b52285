"""The ticket store's promises on SQLite and PostgreSQL alike: one open ticket per alert under
concurrent delivery (the database decides, not timing), SLA marks that fire once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from collector.core.alerting.model import AlertChange, fingerprint
from collector.store import tickets as store


def firing(at: Any, host: str = "db1") -> AlertChange:
    labels = {"alertname": "HostDown", "host": host, "customer": "acme", "severity": "major"}
    return AlertChange(
        alertname="HostDown",
        fingerprint=fingerprint(labels),
        labels=labels,
        annotations={},
        state="firing",
        active_at=at,
        fired_at=at,
        resolved_at=None,
        value=1.0,
    )


def test_concurrent_deliveries_of_one_alert_open_one_ticket(backend_ctx: Any) -> None:
    # Two collector processes handing the same alert over at once: two contexts, one database.
    ctx1, clock = backend_ctx()
    ctx2, _ = backend_ctx()
    now = clock.now()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def deliver(ctx: Any) -> None:
        try:
            barrier.wait()
            ctx.areas["tickets"].alerts_changed([firing(now)], now)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(c,)) for c in (ctx1, ctx2) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with ctx1.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.tickets)).scalar_one() == 1
        opened = conn.execute(
            select(func.count())
            .select_from(store.ticket_events)
            .where(store.ticket_events.c.kind == "opened")
        ).scalar_one()
    assert opened == 1


def test_marks_fire_once_even_from_two_sweepers(backend_ctx: Any) -> None:
    ctx1, clock = backend_ctx()
    ctx2, _ = backend_ctx()
    ctx1.areas["tickets"].open_request(
        customer="acme", title="x", urgency="critical", actor="hotline", now=clock.now()
    )
    later = clock.now() + timedelta(minutes=20)
    results: list[dict[str, int]] = []
    threads = [
        threading.Thread(target=lambda c=c: results.append(c.areas["tickets"].sweep(later)))
        for c in (ctx1, ctx2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["breached"] for r in results) == 1
    assert sum(r["escalated"] for r in results) == 1
