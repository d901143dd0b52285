"""The ticket state machine: a state, a command and ``now`` in; the new state, events and effects out.

    new ──assign──> assigned ──ack──> in_progress <──resume── waiting_customer
     │  ──take/ack──────────────────>     │  ──wait──────────────>  │
     │                                    └──resolve──> resolved <──┘ (from any open state)
     │                                                  │   │
     │                               survey ≥ satisfied ┘   └ survey ≤ reopen_rating / reopen
     │                                     closed (archived)        -> assigned (or new)
     └──cancel (from any open state)──> cancelled

Every command is checked against the current state; a command the state does not allow
raises ``Conflict`` listing the commands it does allow. Nothing here touches the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from collector.errors import Conflict, InvalidInput

OPEN_STATES = frozenset({"new", "assigned", "in_progress", "waiting_customer"})
STATES = (*sorted(OPEN_STATES), "resolved", "closed", "cancelled")
TERMINAL = frozenset({"closed", "cancelled"})

# command -> states it is allowed in
ALLOWED: dict[str, frozenset[str]] = {
    "assign": OPEN_STATES,
    "take": OPEN_STATES,
    "ack": frozenset({"new", "assigned"}),
    "comment": OPEN_STATES | {"resolved"},
    "attach": OPEN_STATES | {"resolved"},
    "wait": frozenset({"assigned", "in_progress"}),
    "resume": frozenset({"waiting_customer"}),
    "resolve": OPEN_STATES,
    "survey": frozenset({"resolved"}),
    "close": frozenset({"resolved"}),
    "reopen": frozenset({"resolved", "closed"}),
    "cancel": OPEN_STATES,
    "dispatch": OPEN_STATES - {"new"},
    "arrive": OPEN_STATES - {"new"},
    "escalate": OPEN_STATES,
    "flapping": OPEN_STATES | {"resolved"},
    "alert_firing": OPEN_STATES | {"resolved"},
    "alert_resolved": OPEN_STATES | {"resolved", "closed"},
}
COMMANDS = tuple(ALLOWED)
# Commands a person makes through the CLI or API (the rest come from the system).
HUMAN_COMMANDS = (
    "assign",
    "take",
    "ack",
    "comment",
    "wait",
    "resume",
    "resolve",
    "survey",
    "close",
    "reopen",
    "cancel",
    "dispatch",
    "arrive",
)
# Actions the customer sees, so the first of them by an engineer is the first response.
RESPONDING = frozenset({"ack", "take", "comment", "wait", "resolve", "dispatch", "arrive"})
REPORT_FIELDS = ("cause", "actions", "result")
# What a comment or an attached playbook result keeps.
ATTACHED = ("text", "public", "playbook", "run_id", "status", "summary", "findings")


@dataclass(frozen=True)
class TicketState:
    """What the machine needs to know about a ticket."""

    state: str = "new"
    assignee: str | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    waiting_since: datetime | None = None
    onsite_dispatched_at: datetime | None = None
    onsite_arrived_at: datetime | None = None
    flapping: bool = False
    reopen_count: int = 0


@dataclass(frozen=True)
class Command:
    action: str
    actor: str  # an engineer's name, "system", "customer" or a token's name
    data: Mapping[str, Any] = field(default_factory=dict)
    # Whether the actor works tickets (an engineer) rather than the system or the customer.
    by_engineer: bool = True


@dataclass(frozen=True)
class Event:
    """One entry of the ticket's history."""

    kind: str
    actor: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    state: TicketState
    events: tuple[Event, ...]
    # Things the shell carries out: "notify:<kind>", "pause", "unpause", "survey", "tell_lead",
    # "first_response", "onsite_deadline", "reopened".
    effects: tuple[str, ...] = ()


def allowed_commands(state: str, *, human_only: bool = True) -> list[str]:
    """The commands allowed in ``state``, in a stable order."""
    names = HUMAN_COMMANDS if human_only else COMMANDS
    return [c for c in names if state in ALLOWED[c]]


def _report(data: Mapping[str, Any]) -> dict[str, Any]:
    report = data.get("report")
    if not isinstance(report, Mapping):
        raise InvalidInput("resolving needs a service report (cause, actions, result, parts)", field="report")
    out: dict[str, Any] = {}
    for key in REPORT_FIELDS:
        value = report.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"the service report needs {key}", field=f"report.{key}")
        out[key] = value.strip()
    parts = report.get("parts", [])
    if not isinstance(parts, list | tuple) or not all(isinstance(p, str) for p in parts):
        raise InvalidInput("parts is a list of the parts replaced (may be empty)", field="report.parts")
    out["parts"] = [p for p in parts if p.strip()]
    return out


def _rating(data: Mapping[str, Any]) -> int:
    rating = data.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("the rating is a whole number from 1 to 5", field="rating")
    return rating


def decide(
    ticket: TicketState,
    cmd: Command,
    now: datetime,
    *,
    satisfied_rating: int = 3,
    reopen_rating: int = 2,
) -> Decision:
    """Apply ``cmd`` to ``ticket`` at ``now``.

    Raises Conflict (with the allowed commands) when the state forbids the command, and
    InvalidInput when its data is incomplete; in both cases nothing has changed.
    """
    if cmd.action not in ALLOWED:
        raise InvalidInput(f"unknown command {cmd.action!r}", field="action")
    if ticket.state not in ALLOWED[cmd.action]:
        allowed = allowed_commands(ticket.state)
        raise Conflict(
            f"cannot {cmd.action} a ticket that is {ticket.state}; "
            f"allowed: {', '.join(allowed) or 'nothing'}",
            allowed=allowed,
        )
    a, d = cmd.action, cmd.data
    new = ticket
    data: dict[str, Any] = {}
    effects: list[str] = []
    kind = a

    if a in ("assign", "take"):
        engineer = cmd.actor if a == "take" else d.get("engineer")
        if not isinstance(engineer, str) or not engineer:
            raise InvalidInput("name the engineer to assign", field="engineer")
        data = {"engineer": engineer, "previous": ticket.assignee}
        if d.get("reason"):
            data["reason"] = d["reason"]
        target = "in_progress" if a == "take" else "assigned"
        if ticket.state == "waiting_customer":
            target = "waiting_customer"
        new = replace(ticket, assignee=engineer, state=target)
        if engineer != ticket.assignee:
            effects.append("notify:assigned")
    elif a == "ack":
        new = replace(ticket, state="in_progress", assignee=ticket.assignee or cmd.actor)
    elif a in ("comment", "attach"):
        text = d.get("text")
        if a == "comment" and (not isinstance(text, str) or not text.strip()):
            raise InvalidInput("a comment needs text", field="text")
        data = {k: v for k, v in d.items() if k in ATTACHED}
    elif a == "wait":
        new = replace(ticket, state="waiting_customer", waiting_since=now)
        data = {"reason": d.get("reason", "")}
        effects.append("pause")
    elif a == "resume":
        new = replace(ticket, state="in_progress", waiting_since=None)
        effects.append("unpause")
    elif a == "resolve":
        data = {"report": _report(d)}
        if d.get("automatic"):
            data["automatic"] = True
        new = replace(ticket, state="resolved", resolved_at=now, waiting_since=None)
        if ticket.state == "waiting_customer":
            effects.append("unpause")
        effects += ["notify:resolved", "survey"]
    elif a == "survey":
        rating = _rating(d)
        data = {"rating": rating, "comment": str(d.get("comment") or ""), "via": d.get("via", "engineer")}
        effects.append("notify:survey")
        if rating <= reopen_rating:
            new = _reopened(ticket)
            effects += ["reopened", "tell_lead", "notify:reopened"]
        elif rating >= satisfied_rating:
            new = replace(ticket, state="closed")
    elif a == "close":
        data = {"reason": d.get("reason", "")}
        new = replace(ticket, state="closed")
    elif a == "reopen":
        data = {"reason": d.get("reason", "")}
        new = _reopened(ticket)
        effects += ["reopened", "notify:reopened"]
    elif a == "cancel":
        data = {"reason": d.get("reason", "")}
        new = replace(ticket, state="cancelled", waiting_since=None)
        if ticket.state == "waiting_customer":
            effects.append("unpause")
    elif a == "dispatch":
        if ticket.onsite_dispatched_at is not None and ticket.onsite_arrived_at is None:
            raise Conflict("an on-site visit is already under way", allowed=["arrive"])
        new = replace(ticket, onsite_dispatched_at=now, onsite_arrived_at=None)
        data = {"engineer": d.get("engineer") or ticket.assignee or cmd.actor}
        effects.append("onsite_deadline")
    elif a == "arrive":
        if ticket.onsite_dispatched_at is None or ticket.onsite_arrived_at is not None:
            raise Conflict("no on-site visit is under way", allowed=["dispatch"])
        new = replace(ticket, onsite_arrived_at=now)
    elif a == "escalate":
        data = {"level": d.get("level"), "notify": list(d.get("notify", ()))}
        effects.append("notify:escalated")
    elif a == "flapping":
        on = bool(d.get("on"))
        if on == ticket.flapping:
            return Decision(ticket, (), ())
        new = replace(ticket, flapping=on)
        kind = "flapping_started" if on else "flapping_stopped"
        data = {"score": d.get("score")}
    elif a == "alert_firing":
        data = {k: d[k] for k in ("value", "fired_at") if k in d}
        if ticket.state == "resolved":
            new = _reopened(ticket)
            effects += ["reopened", "notify:reopened"]
            data["reopened"] = True
    elif a == "alert_resolved":
        data = {k: d[k] for k in ("value", "resolved_at") if k in d}

    if (
        cmd.by_engineer
        and a in RESPONDING
        and new.first_response_at is None
        and (a != "comment" or d.get("public", True))
    ):
        new = replace(new, first_response_at=now)
        effects.append("first_response")
    if new.state != ticket.state:
        data = {**data, "from": ticket.state, "to": new.state}
    return Decision(new, (Event(kind, cmd.actor, now, data),), tuple(effects))


def _reopened(ticket: TicketState) -> TicketState:
    return replace(
        ticket,
        state="assigned" if ticket.assignee else "new",
        resolved_at=None,
        waiting_since=None,
        reopen_count=ticket.reopen_count + 1,
    )


def ticket_number(prefix: str, year: int, seq: int) -> str:
    """The human-friendly number of a ticket, e.g. T-2026-000123."""
    return f"{prefix}-{year:04d}-{seq:06d}"
