"""The ticket service's base: lookups, SLA deadlines, applying the state machine, output.

Every change runs in one transaction: the ticket row, its event, its SLA marks and its
queued notifications are stored together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from collector.core.sla import FOREVER, Deadline, deadline
from collector.core.tickets import OPEN_STATES, Command, Decision, TicketState, decide
from collector.errors import InvalidInput, NotFound
from collector.services import AppContext
from collector.services.ticket_contracts import KINDS, Contracts, Directory
from collector.services.ticket_notify import Outbox
from collector.services.ticket_surveys import SurveyLinks, load_secret
from collector.store import tickets as store
from collector.store.tickets import TicketRow

log = logging.getLogger("upkeep.tickets")

Ticket = TicketRow
SYSTEM = "system"


def ts(t: datetime) -> float:
    return t.timestamp()


def dt(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def state_of(row: TicketRow) -> TicketState:
    return TicketState(
        state=row.state,
        assignee=row.assignee,
        first_response_at=dt(row.first_response_at),
        resolved_at=dt(row.resolved_at),
        waiting_since=dt(row.waiting_since),
        onsite_dispatched_at=dt(row.onsite_dispatched_at),
        onsite_arrived_at=dt(row.onsite_arrived_at),
        flapping=row.flapping,
        reopen_count=row.reopen_count,
    )


class TicketBase:
    """What every part of the ticket service shares; every method takes ``now`` (time is an input)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        self.config = ctx.config
        self.tcfg = ctx.config.tickets
        self.contracts = Contracts(ctx.config)
        self.directory = Directory(ctx.config)
        self.outbox = Outbox(ctx.config.notifications, self._email_of)
        self.links = SurveyLinks(load_secret(ctx.config))
        self.outbox.handlers["diagnosis"] = self._run_diagnosis

    # --- lookups ------------------------------------------------------------------------------

    def _email_of(self, conn: Connection, name: str) -> str | None:
        e = self.directory.all(conn).get(name)
        return e.email if e and e.email else None

    def find(self, conn: Connection, ref: str | int, scope: Sequence[str] | None = None) -> TicketRow:
        """A ticket by number (T-2026-000123) or id; out of scope answers like a missing one."""
        text = str(ref).strip()
        row = None
        if text.isdigit():
            row = store.get_ticket(conn, int(text))
        elif text:
            row = store.get_ticket_by_number(conn, text.upper())
        if row is None or (scope is not None and row.customer not in scope):
            raise NotFound("ticket", text)
        return row

    def check_customer(self, customer: str) -> None:
        """An unknown customer is refused when the configuration names customers."""
        if self.config.customers and not self.contracts.known(customer):
            raise InvalidInput(f"unknown customer {customer!r}", field="customer")

    # --- SLA ----------------------------------------------------------------------------------

    def pauses(self, row: TicketRow) -> list[tuple[datetime, datetime]]:
        """The stretches the SLA clock stood still; a wait still running ends at FOREVER."""
        out = [(dt(a), dt(b)) for a, b in row.pauses]
        if row.waiting_since is not None:
            out.append((dt(row.waiting_since), FOREVER))
        return out  # type: ignore[return-value]

    def deadlines(self, row: TicketRow) -> dict[str, Deadline]:
        """The ticket's running promises: response (until the first response), resolution, on-site."""
        window = self.contracts.window(row.customer)
        share = self.contracts.contract(row.customer).at_risk
        pauses = self.pauses(row)
        out: dict[str, Deadline] = {}
        starts = {
            "response": row.opened_at,
            "resolution": row.cycle_started_at,
            "onsite": row.onsite_dispatched_at,
        }
        for kind in KINDS:
            start = starts[kind]
            if start is None:
                continue
            target = self.contracts.target_seconds(row.customer, row.priority, kind)
            out[kind] = deadline(window, kind, dt(start), target, share, pauses)  # type: ignore[arg-type]
        return out

    def met_at(self, row: TicketRow, kind: str) -> float | None:
        return {
            "response": row.first_response_at,
            "resolution": row.resolved_at,
            "onsite": row.onsite_arrived_at,
        }[kind]

    def cycle_of(self, row: TicketRow, kind: str) -> int:
        if kind == "response":
            return 0
        if kind == "onsite":
            return int(row.onsite_dispatched_at or 0)
        return row.reopen_count

    def _record_outcome(self, conn: Connection, row: TicketRow, kind: str, now: float) -> None:
        """When a promise is kept or missed by an action, mark it once (the metrics read these marks)."""
        d = self.deadlines(row).get(kind)
        if d is None:
            return
        window = self.contracts.window(row.customer)
        elapsed = window.business_seconds(d.started, dt(now), self.pauses(row))  # type: ignore[arg-type]
        due = ts(d.due) if d.due else None
        outcome = "met" if due is None or now <= due else "breached"
        store.add_mark(conn, row, kind, outcome, self.cycle_of(row, kind), now, due, elapsed=elapsed)

    # --- applying the state machine -----------------------------------------------------------

    def apply(
        self,
        conn: Connection,
        row: TicketRow,
        cmd: Command,
        now: float,
        *,
        extra: dict[str, Any] | None = None,
    ) -> tuple[TicketRow, Decision]:
        """Decide, then store the new state, the event, the SLA marks and the notifications."""
        d = decide(
            state_of(row),
            cmd,
            dt(now),  # type: ignore[arg-type]
            satisfied_rating=self.tcfg.satisfied_rating,
            reopen_rating=self.tcfg.reopen_rating,
        )
        s = d.state
        values: dict[str, Any] = {
            "state": s.state,
            "assignee": s.assignee,
            "first_response_at": ts(s.first_response_at) if s.first_response_at else None,
            "resolved_at": ts(s.resolved_at) if s.resolved_at else None,
            "waiting_since": ts(s.waiting_since) if s.waiting_since else None,
            "onsite_dispatched_at": ts(s.onsite_dispatched_at) if s.onsite_dispatched_at else None,
            "onsite_arrived_at": ts(s.onsite_arrived_at) if s.onsite_arrived_at else None,
            "flapping": s.flapping,
            "reopen_count": s.reopen_count,
            "updated_at": now,
            **(extra or {}),
        }
        effects = set(d.effects)
        if "unpause" in effects and row.waiting_since is not None:
            values["pauses"] = [*row.pauses, [row.waiting_since, now]]
        if "reopened" in effects:
            values["cycle_started_at"] = now
            values["closed_at"] = None
        if s.state in ("closed", "cancelled") and row.state != s.state:
            values["closed_at"] = now
            values["open_key"] = None
        event = d.events[0] if d.events else None
        if cmd.action == "resolve" and event is not None:
            values["report"] = event.data["report"]
        if cmd.action == "survey":
            values["rating"] = cmd.data["rating"]
        store.update_ticket(conn, row.id, **values)
        if "reopened" in effects and row.open_key is None and row.fingerprint:
            # Reopened after closing: take the alert's key back unless a newer ticket holds it.
            store.claim_open_key(conn, row.id, f"{row.host or '-'}|{row.fingerprint}")
        new = store.get_ticket(conn, row.id)
        assert new is not None
        if event is not None:
            store.add_event(conn, row.id, now, event.actor, event.kind, dict(event.data))
        if "first_response" in effects:
            self._record_outcome(conn, new, "response", now)
        if cmd.action == "resolve":
            self._record_outcome(conn, new, "resolution", now)
        if cmd.action == "arrive":
            self._record_outcome(conn, new, "onsite", now)
        if cmd.action == "assign" or cmd.action == "take":
            self.directory.touch(conn, s.assignee or cmd.actor, now)
        self._notify_effects(conn, new, cmd, d, now)
        return new, d

    def _notify_effects(
        self, conn: Connection, row: TicketRow, cmd: Command, d: Decision, now: float
    ) -> None:
        lead = self.contracts.contract(row.customer).team_lead
        for effect in d.effects:
            if not effect.startswith("notify:"):
                continue
            kind = effect.split(":", 1)[1]
            people: list[str] = [row.assignee] if row.assignee else []
            detail: dict[str, Any] = {}
            if kind == "reopened" and lead:
                people.append(lead)
            if kind == "survey":
                detail = {"rating": cmd.data.get("rating"), "comment": cmd.data.get("comment", "")}
                if lead:
                    people.append(lead)
            if kind == "escalated":
                people = list(cmd.data.get("notify", ()))
                detail = {"level": cmd.data.get("level")}
            self.outbox.publish(conn, kind, self.summary(row), now, engineers=people, detail=detail)
        if "survey" in d.effects:
            self._send_survey(conn, row, now)

    def survey_link(self, row: TicketRow, now: float) -> str:
        token = self.links.sign(row.id, row.reopen_count, now + self.tcfg.survey_link_ttl)
        base = (self.config.public_url or f"http://{self.config.listen}").rstrip("/")
        return f"{base}/api/v1/survey/{token}"

    def _send_survey(self, conn: Connection, row: TicketRow, now: float) -> None:
        link = self.survey_link(row, now)
        store.add_event(
            conn, row.id, now, SYSTEM, "survey_sent", {"link_expires": now + self.tcfg.survey_link_ttl}
        )
        contacts = [c.email for c in self.contracts.customer(row.customer).contacts if c.email]
        email = (row.contact or {}).get("email")
        if email:
            contacts.insert(0, email)
        if self.config.notifications.smtp is not None:
            payload = {
                "event": "survey",
                "at": now,
                "ticket": self.summary(row),
                "link": link,
                "detail": {"question": "How satisfied are you with how this was handled (1-5)?"},
            }
            for addr in dict.fromkeys(contacts):
                store.enqueue(conn, "email", addr, "survey_request", payload, now)

    # --- output -------------------------------------------------------------------------------

    def summary(self, row: TicketRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "number": row.number,
            "customer": row.customer,
            "host": row.host,
            "source": row.source,
            "title": row.title,
            "category": row.category,
            "priority": row.priority,
            "severity": row.severity,
            "state": row.state,
            "assignee": row.assignee,
            "alertname": row.alertname,
            "flapping": row.flapping,
            "alert_state": row.alert_state,
            "opened_at": iso(row.opened_at),
            "updated_at": iso(row.updated_at),
            "first_response_at": iso(row.first_response_at),
            "resolved_at": iso(row.resolved_at),
            "closed_at": iso(row.closed_at),
            "rating": row.rating,
            "reopen_count": row.reopen_count,
        }

    def detail(self, conn: Connection, row: TicketRow, now: float) -> dict[str, Any]:
        out = self.summary(row)
        marks = store.marks_of(conn, row.id)
        sla: dict[str, Any] = {}
        for kind, d in self.deadlines(row).items():
            met = self.met_at(row, kind)
            if kind == "response" and met is None and row.state not in OPEN_STATES:
                continue
            sla[kind] = {
                "due": iso(ts(d.due)) if d.due else None,
                "at_risk": iso(ts(d.at_risk)) if d.at_risk else None,
                "met_at": iso(met),
                "paused": d.due is None,
                "marks": [
                    m["mark"] for m in marks if m["kind"] == kind and m["cycle"] == self.cycle_of(row, kind)
                ],
            }
        out.update(
            description=row.description,
            contact=row.contact,
            labels=row.labels,
            annotations=row.annotations,
            report=row.report,
            onsite={"dispatched_at": iso(row.onsite_dispatched_at), "arrived_at": iso(row.onsite_arrived_at)},
            sla=sla,
            escalations=[m["mark"] for m in marks if m["kind"] == "escalation"],
            events=[{**e, "at": iso(e["at"])} for e in store.events_of(conn, row.id)],
        )
        return out


def _mapping(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
