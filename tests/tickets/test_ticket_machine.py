"""The ticket state machine: every transition checked, every change an event (examples and properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.tickets import (
    ALLOWED,
    COMMANDS,
    OPEN_STATES,
    STATES,
    Command,
    TicketState,
    allowed_commands,
    decide,
    ticket_number,
)
from collector.errors import Conflict, InvalidInput

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
REPORT = {"cause": "log partition full", "actions": "rotated logs", "result": "disk at 40 %", "parts": []}


def run(state: TicketState, action: str, actor: str = "li", **data: object) -> TicketState:
    return decide(state, Command(action, actor, data), NOW).state


def test_the_contracts_workflow_request_dispatch_handle_survey_archive() -> None:
    t = TicketState()
    t = run(t, "assign", "system", engineer="li")
    assert (t.state, t.assignee, t.first_response_at) == ("assigned", "li", None)
    d = decide(t, Command("ack", "li"), NOW)
    assert d.state.state == "in_progress"
    assert d.state.first_response_at == NOW
    assert "first_response" in d.effects
    d = decide(d.state, Command("resolve", "li", {"report": REPORT}), NOW)
    assert d.state.state == "resolved"
    assert "survey" in d.effects
    assert d.events[0].data["report"]["cause"] == "log partition full"
    d = decide(d.state, Command("survey", "li", {"rating": 5}), NOW)
    assert d.state.state == "closed"


def test_an_unhappy_customer_reopens_and_the_lead_is_told() -> None:
    t = TicketState(state="resolved", assignee="li")
    d = decide(
        t, Command("survey", "customer", {"rating": 1, "comment": "still slow"}, by_engineer=False), NOW
    )
    assert d.state.state == "assigned"
    assert d.state.reopen_count == 1
    assert {"tell_lead", "reopened"} <= set(d.effects)


def test_a_wrong_transition_lists_the_allowed_ones() -> None:
    with pytest.raises(Conflict) as info:
        decide(TicketState(state="closed"), Command("resolve", "li", {"report": REPORT}), NOW)
    assert info.value.allowed == ["reopen"]
    assert "closed" in str(info.value)


@pytest.mark.parametrize("missing", ["cause", "actions", "result"])
def test_resolving_needs_a_full_service_report(missing: str) -> None:
    report = {k: v for k, v in REPORT.items() if k != missing}
    with pytest.raises(InvalidInput) as info:
        decide(TicketState(state="in_progress"), Command("resolve", "li", {"report": report}), NOW)
    assert info.value.field == f"report.{missing}"


def test_waiting_pauses_and_resuming_unpauses() -> None:
    d = decide(TicketState(state="in_progress", assignee="li"), Command("wait", "li"), NOW)
    assert d.state.waiting_since == NOW
    assert "pause" in d.effects
    d = decide(d.state, Command("resume", "li"), NOW + timedelta(hours=1))
    assert d.state.state == "in_progress"
    assert "unpause" in d.effects


def test_a_system_comment_is_not_a_first_response() -> None:
    d = decide(
        TicketState(), Command("comment", "system", {"text": "alert fired again"}, by_engineer=False), NOW
    )
    assert d.state.first_response_at is None


def test_refiring_reopens_a_resolved_ticket() -> None:
    d = decide(
        TicketState(state="resolved", assignee="li"),
        Command("alert_firing", "system", by_engineer=False),
        NOW,
    )
    assert d.state.state == "assigned"
    assert "reopened" in d.effects


def test_onsite_visit_dispatch_then_arrival() -> None:
    t = TicketState(state="in_progress", assignee="li")
    d = decide(t, Command("dispatch", "li"), NOW)
    assert "onsite_deadline" in d.effects
    with pytest.raises(Conflict):
        decide(d.state, Command("dispatch", "li"), NOW)
    assert run(d.state, "arrive").onsite_arrived_at == NOW


def test_numbers_are_human_friendly() -> None:
    assert ticket_number("T", 2026, 123) == "T-2026-000123"


DATA = {
    "assign": {"engineer": "wang"},
    "comment": {"text": "looking"},
    "resolve": {"report": REPORT},
    "survey": {"rating": 3},
    "flapping": {"on": True},
}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.sampled_from(["li", "system"]), st.integers(1, 5)),
        max_size=40,
    )
)
def test_any_command_sequence_keeps_the_invariants(steps: list[tuple[str, str, int]]) -> None:
    t = TicketState()
    now = NOW
    first_response = None
    for action, actor, rating in steps:
        now += timedelta(minutes=1)
        data = dict(DATA.get(action, {}))
        if action == "survey":
            data["rating"] = rating
        before = t
        try:
            d = decide(t, Command(action, actor, data, by_engineer=actor != "system"), now)
        except Conflict as exc:
            if before.state in ALLOWED[action]:
                # Allowed by state, refused by the visit under way (or not): the only such commands.
                assert action in ("dispatch", "arrive")
            else:
                assert exc.allowed == allowed_commands(before.state)  # noqa: PT017
            continue
        t = d.state
        assert t.state in STATES
        assert len(d.events) <= 1
        if d.events and t.state != before.state:
            assert (d.events[0].data["from"], d.events[0].data["to"]) == (before.state, t.state)
        # The first response is recorded once and never moves.
        if first_response is not None:
            assert t.first_response_at == first_response
        first_response = t.first_response_at
        if first_response is not None:
            assert actor != "system" or before.first_response_at is not None
        if t.state == "closed":
            assert before.state in ("resolved", "closed")
        if t.state == "resolved":
            assert t.resolved_at is not None
        if t.state in OPEN_STATES and t.state != "new" and t.state != "waiting_customer":
            assert t.assignee is not None or t.state == "in_progress"
        if before.state == "cancelled":
            raise AssertionError("cancelled is final")
