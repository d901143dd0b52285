"""Service figures against a month worked out by hand (see the comments beside each ticket)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.core.service_figures import (
    Period,
    TicketEvent,
    TicketRecord,
    engineer_figures,
    service_figures,
)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


MARCH = Period(at(3, 1, 0), at(4, 1, 0))


def ev(when: datetime, what: str, who: str = "", **data: object) -> TicketEvent:
    return TicketEvent(when, what, who, data)


TICKETS = [
    # T1: responded after 5 min (due 10 min), resolved after 4 h (due next day), rated 5.
    TicketRecord("T1", "acme", at(3, 2, 10), "critical", "hardware", "alert", "db1",
                 response_due=at(3, 2, 10, 10), resolution_due=at(3, 3, 10),
                 events=(ev(at(3, 2, 10), "opened"), ev(at(3, 2, 10, 4), "assigned", engineer="li"),
                         ev(at(3, 2, 10, 5), "responded", "li"), ev(at(3, 2, 14), "resolved", "li"),
                         ev(at(3, 3, 9), "rated", rating=5, comment="quick"))),
    # T2: responded 20 min late (reason recorded), resolved 1 h late, an on-site visit, rated 2.
    TicketRecord("T2", "acme", at(3, 5, 9), "normal", "software", "manual", "app1",
                 response_due=at(3, 5, 9, 30), resolution_due=at(3, 5, 10),
                 events=(ev(at(3, 5, 9), "opened"), ev(at(3, 5, 9, 1), "assigned", engineer="wang"),
                         ev(at(3, 5, 9, 50), "responded", "wang"),
                         ev(at(3, 5, 9, 51), "breached", kind="response", reason="hotline busy"),
                         ev(at(3, 5, 10, 30), "visit", "wang", note="replaced a fan"),
                         ev(at(3, 5, 11), "resolved", "wang"),
                         ev(at(3, 6, 8), "rated", rating=2, comment="slow"))),
    # T3: never answered; both deadlines passed within March.
    TicketRecord("T3", "acme", at(3, 20, 8), "normal", "software", "inspection", "db1",
                 response_due=at(3, 20, 8, 30), resolution_due=at(3, 20, 9, 30),
                 events=(ev(at(3, 20, 8), "opened"),)),
    # T4: opened ten minutes before April; its deadlines are still running at the end of March.
    TicketRecord("T4", "acme", at(3, 31, 23, 50), "low", "network", "alert", "sw1",
                 response_due=at(4, 1, 0, 20), resolution_due=at(4, 1, 1),
                 events=(ev(at(3, 31, 23, 50), "opened"),)),
    # T5: opened in February, resolved 1 March after 48 h (due 24 h): counts for MTTR and for li.
    TicketRecord("T5", "acme", at(2, 27, 10), "major", "hardware", "alert", "db1",
                 response_due=at(2, 27, 10, 10), resolution_due=at(2, 28, 10),
                 events=(ev(at(2, 27, 10), "opened"), ev(at(2, 27, 10, 1), "assigned", engineer="li"),
                         ev(at(2, 27, 10, 5), "responded", "li"), ev(at(3, 1, 10), "resolved", "li"))),
    # T6: resolved, reopened, resolved again 50 h after opening (due 24 h): 26 h late.
    TicketRecord("T6", "acme", at(3, 10, 10), "major", "hardware", "alert", "db2",
                 response_due=at(3, 10, 10, 10), resolution_due=at(3, 11, 10),
                 events=(ev(at(3, 10, 10), "opened"), ev(at(3, 10, 10, 1), "assigned", engineer="li"),
                         ev(at(3, 10, 10, 2), "responded", "li"), ev(at(3, 10, 12), "resolved", "li"),
                         ev(at(3, 11, 9), "reopened"), ev(at(3, 12, 12), "resolved", "li"))),
]


def test_counts_compliance_and_means_match_the_hand_computation() -> None:
    f = service_figures(TICKETS, MARCH)
    assert f.tickets == 5  # T1 T2 T3 T4 T6
    assert f.by_priority == {"critical": 1, "low": 1, "major": 1, "normal": 2}
    assert f.by_category == {"hardware": 2, "network": 1, "software": 2}
    assert f.by_source == {"alert": 3, "inspection": 1, "manual": 1}
    # Response: T1 and T6 met, T2 late, T3 never; T4 still running.
    assert (f.response.met, f.response.breached, f.response.percent) == (2, 2, 50.0)
    # Resolution: T1 met; T2, T3, T6 breached; T4 running; T5 belongs to February.
    assert (f.resolution.met, f.resolution.breached, f.resolution.percent) == (1, 3, 25.0)
    # MTTA: (300 + 3000 + 120) / 3.
    assert f.mtta_seconds == 1140.0
    # MTTR over final resolutions in March: T1 4 h, T2 2 h, T5 48 h, T6 50 h.
    assert f.resolved == 4
    assert f.mttr_seconds == (14400 + 7200 + 172800 + 180000) / 4


def test_breaches_carry_their_reasons() -> None:
    f = service_figures(TICKETS, MARCH)
    got = [(b.ticket, b.kind, b.reason) for b in f.breaches]
    assert got == [
        ("T2", "response", "hotline busy"),
        ("T2", "resolution", "resolution 1 h late"),
        ("T6", "resolution", "resolution 26 h late"),
        ("T3", "response", "no response by the end of the period"),
        ("T3", "resolution", "no resolution by the end of the period"),
    ]


def test_satisfaction_and_visits() -> None:
    f = service_figures(TICKETS, MARCH)
    assert f.satisfaction_average == 3.5
    assert f.satisfaction_distribution == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert [c["comment"] for c in f.comments] == ["quick", "slow"]
    assert [(v["ticket"], v["engineer"], v["note"]) for v in f.visits] == [("T2", "wang", "replaced a fan")]


def test_engineer_figures_credit_the_resolving_engineer() -> None:
    rows = {e.engineer: e for e in engineer_figures(TICKETS, MARCH, engineers=["zhao"])}
    li, wang, zhao = rows["li"], rows["wang"], rows["zhao"]
    assert li.tickets_handled == 3  # T1, T5, T6
    assert (li.resolution.met, li.resolution.breached, li.resolution.percent) == (1, 2, 33.3)
    assert li.mttr_seconds == (14400 + 172800 + 180000) / 3
    assert li.satisfaction_average == 5.0
    assert (wang.tickets_handled, wang.resolution.percent, wang.mttr_seconds) == (1, 0.0, 7200.0)
    assert wang.satisfaction_average == 2.0
    assert zhao.tickets_handled == 0
    assert zhao.resolution.percent is None


def test_business_time_is_the_callers() -> None:
    # A window that counts half of every hour: the means halve.
    f = service_figures(TICKETS, MARCH, lambda _t, a, b: (b - a).total_seconds() / 2)
    assert f.mtta_seconds == 570.0


@pytest.mark.parametrize("month", [1, 5])
def test_a_month_without_tickets_has_no_percentages(month: int) -> None:
    f = service_figures(TICKETS, Period(at(month, 1, 0), at(month + 1, 1, 0)))
    assert f.tickets == 0
    assert f.response.percent is None
    assert f.mttr_seconds is None
    assert f.satisfaction_average is None


@st.composite
def tickets(draw: st.DrawFn) -> list[TicketRecord]:
    out = []
    for i in range(draw(st.integers(0, 8))):
        opened = at(3, 1, 0) + timedelta(minutes=draw(st.integers(-3000, 45000)))
        events = [ev(opened, "opened")]
        t = opened
        for kind in draw(st.lists(st.sampled_from(["responded", "resolved", "reopened", "rated", "visit"]),
                                  max_size=6)):
            t = t + timedelta(minutes=draw(st.integers(1, 3000)))
            events.append(ev(t, kind, "li", rating=draw(st.integers(1, 5))))
        out.append(TicketRecord(f"T{i}", "acme", opened, response_due=opened + timedelta(minutes=30),
                                resolution_due=opened + timedelta(hours=8), events=tuple(events)))
    return out


@given(tickets())
def test_figures_stay_within_their_bounds(records: list[TicketRecord]) -> None:
    f = service_figures(records, MARCH)
    for c in (f.response, f.resolution):
        assert c.met + c.breached <= f.tickets
        assert c.percent is None or 0.0 <= c.percent <= 100.0
    assert f.resolved <= len(records)
    assert f.satisfaction_average is None or 1.0 <= f.satisfaction_average <= 5.0
    assert sum(f.satisfaction_distribution.values()) == len(f.ratings)
    assert f.mtta_seconds is None or f.mtta_seconds >= 0
    assert f.mttr_seconds is None or f.mttr_seconds >= 0
    handled = sum(e.tickets_handled for e in engineer_figures(records, MARCH))
    assert handled == f.resolved
