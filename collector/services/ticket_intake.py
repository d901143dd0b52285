"""Where tickets come from: the rule evaluator's alert changes, Alertmanager's webhook,
requests recorded by the hotline, and inspection findings.

One open ticket per (host, alert fingerprint) is guaranteed by the UNIQUE ``open_key``
column: a second insert for the same key fails inside a savepoint and the alert is
applied to the ticket that won instead. A re-firing alert updates its open ticket, or
reopens its resolved ticket within ``tickets.reopen_window``. Alerts inside an open
maintenance window open nothing and are recorded as suppressed; the sweep opens the
ticket of an alert still firing when its window ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from collector.core.dispatch import choose
from collector.core.flapping import FlapSettings, FlapState, observe
from collector.core.maintenance import suppressing
from collector.core.tickets import Command
from collector.errors import InvalidInput
from collector.services.ticket_base import SYSTEM, TicketBase, dt, ts
from collector.services.ticket_maintenance import load_windows
from collector.store import tickets as store
from collector.store.tickets import TicketRow


@dataclass(frozen=True)
class AlertInput:
    """An alert change, whichever path it came by."""

    alertname: str
    fingerprint: str
    state: str  # firing | resolved
    at: float
    customer: str
    host: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    value: float | None = None
    source: str = "alert"

    @property
    def key(self) -> str:
        return f"{self.host or '-'}|{self.fingerprint}"

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "alertname": self.alertname,
            "fingerprint": self.fingerprint,
            "state": self.state,
            "at": self.at,
            "customer": self.customer,
            "host": self.host,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": self.value,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AlertInput:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class IntakeMixin(TicketBase):
    # --- the AlertSink port -------------------------------------------------------------------

    def alerts_changed(self, changes: Sequence[Any], now: datetime) -> None:
        """Apply the rule evaluator's alert changes (AlertChange values) in order, in one transaction."""
        inputs = []
        for c in changes:
            when = (
                c.resolved_at
                if c.state == "resolved" and c.resolved_at
                else (c.fired_at or c.active_at or now)
            )
            inputs.append(
                AlertInput(
                    alertname=c.alertname,
                    fingerprint=str(c.fingerprint),
                    state=c.state,
                    at=ts(when),
                    customer=c.customer or self._customer_of_host(c.host),
                    host=c.host,
                    labels=dict(c.labels),
                    annotations=dict(c.annotations),
                    value=getattr(c, "value", None),
                )
            )
        with self.engine.begin() as conn:
            for a in inputs:
                self.on_alert(conn, a, ts(now))

    def _customer_of_host(self, host: str | None) -> str:
        if not host:
            return "default"
        try:
            from collector.store.inventory import hosts
        except ImportError:  # the inventory area is not installed
            return "default"
        with self.engine.connect() as conn:
            found = conn.execute(select(hosts.c.customer).where(hosts.c.name == host)).scalar()
        return str(found) if found else "default"

    def on_alert(self, conn: Connection, a: AlertInput, now: float) -> dict[str, Any]:
        """Apply one alert change; returns what happened (``opened``, ``updated``, ``suppressed``...)."""
        windows = load_windows(conn, self.contracts, dt(now))
        inside = suppressing(windows, a.customer, a.host, a.labels, dt(now))  # type: ignore[arg-type]
        if inside is not None:
            self._suppress(conn, inside.id, a, now)
            return {"result": "suppressed", "window": inside.id}
        row = store.get_by_open_key(conn, a.key)
        if a.state != "firing":
            if row is None:
                return {"result": "ignored"}
            self._alert_on_ticket(conn, row, a, now)
            return {"result": "recovered", "ticket": row.number}
        if (
            row is not None
            and row.state == "resolved"
            and now - (row.resolved_at or now) > self.tcfg.reopen_window
        ):
            # Too long ago to be the same fault: the old ticket keeps its survey, a new one opens.
            store.update_ticket(conn, row.id, open_key=None)
            row = None
        if row is None:
            opened = self._open_alert_ticket(conn, a, now)
            if opened is not None:
                return {"result": "opened", "ticket": opened.number}
            row = store.get_by_open_key(conn, a.key)  # another process won the race
            if row is None:
                raise RuntimeError("open ticket vanished while applying an alert")
        self._alert_on_ticket(conn, row, a, now)
        return {"result": "updated", "ticket": row.number}

    def _flap(self) -> FlapSettings:
        f = self.tcfg.flap
        return FlapSettings(history=f.history, high=f.high, low=f.low, window=f.window)

    def _alert_on_ticket(self, conn: Connection, row: TicketRow, a: AlertInput, now: float) -> None:
        changed = row.alert_state != a.state
        flap, flip = observe(
            FlapState(tuple(row.flap_changes), row.flapping), dt(now), self._flap(), changed=changed
        )  # type: ignore[arg-type]
        extra = {
            "alert_state": a.state,
            "alert_changed_at": a.at if changed else row.alert_changed_at,
            "flap_changes": list(flap.changes),
        }
        if flip is not None:
            row, _ = self.apply(conn, row, Command("flapping", SYSTEM, {"on": flip}, by_engineer=False), now)
        if not changed:
            store.update_ticket(conn, row.id, **extra)
            return
        action = "alert_firing" if a.state == "firing" else "alert_resolved"
        data = {"value": a.value, f"{'fired' if a.state == 'firing' else 'resolved'}_at": a.at}
        if flap.flapping and row.state != "resolved":
            # A flapping alert keeps its one ticket marked flapping; its every flip is not an event.
            store.update_ticket(conn, row.id, updated_at=now, **extra)
            return
        if row.state in ("closed", "cancelled"):
            store.update_ticket(conn, row.id, **extra)
            return
        self.apply(conn, row, Command(action, SYSTEM, data, by_engineer=False), now, extra=extra)

    def _open_alert_ticket(self, conn: Connection, a: AlertInput, now: float) -> TicketRow | None:
        contract = self.contracts.contract(a.customer)
        title = a.annotations.get("summary") or a.alertname
        if a.host and a.host not in title:
            title = f"{title} on {a.host}"
        values = {
            "customer": a.customer,
            "host": a.host,
            "source": a.source,
            "fingerprint": a.fingerprint,
            "alertname": a.alertname,
            "category": a.labels.get("category", ""),
            "title": title[:500],
            "description": a.annotations.get("description", ""),
            "priority": contract.priority_for_severity(a.severity),
            "severity": a.severity,
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "skills": [s for s in a.labels.get("skills", "").split(",") if s],
            "alert_state": "firing",
            "alert_changed_at": a.at,
            "flap_changes": [now],
            "open_key": a.key,
        }
        row = self.open_ticket(
            conn, values, now, actor=SYSTEM, event={"alert": a.alertname, "value": a.value}
        )
        if row is not None and a.annotations.get("playbook") and self.tcfg.diagnose_on_open:
            self.outbox.queue_job(
                conn,
                "diagnosis",
                a.host or "",
                {
                    "ticket_id": row.id,
                    "host": a.host,
                    "customer": a.customer,
                    "playbook": a.annotations["playbook"],
                    "alertname": a.alertname,
                },
                now,
            )
        return row

    def open_ticket(
        self, conn: Connection, values: dict[str, Any], now: float, *, actor: str, event: dict[str, Any]
    ) -> TicketRow | None:
        """Insert a ticket, record it, dispatch it and announce it; None if its open_key is taken."""
        base = {
            "category": "",
            "description": "",
            "severity": "",
            "state": "new",
            "contact": {},
            "labels": {},
            "annotations": {},
            "skills": [],
            "pauses": [],
            "flapping": False,
            "flap_changes": [],
            "reopen_count": 0,
            "opened_at": now,
            "updated_at": now,
            "cycle_started_at": now,
        }
        row = store.insert_ticket(conn, {**base, **values}, self.tcfg.number_prefix, dt(now).year)  # type: ignore[union-attr]
        if row is None:
            return None
        store.add_event(
            conn, row.id, now, actor, "opened", {"source": row.source, "priority": row.priority, **event}
        )
        self.outbox.publish(conn, "opened", self.summary(row), now)
        if self.tcfg.auto_assign:
            row = self.dispatch(conn, row, now)
        return row

    def dispatch(self, conn: Connection, row: TicketRow, now: float) -> TicketRow:
        """Assign a new ticket by skills, duty, load and round robin; tell the lead when nobody is on duty."""
        choice = choose(
            self.directory.candidates(conn),
            customer=row.customer,
            region=self.contracts.customer(row.customer).region,
            skills=row.skills,
            load=store.open_load(conn),
            last_assigned=self.directory.last_assigned(conn),
            now=dt(now),  # type: ignore[arg-type]
        )
        lead = self.contracts.contract(row.customer).team_lead
        if choice.engineer is not None:
            cmd = Command(
                "assign", SYSTEM, {"engineer": choice.engineer, "reason": choice.reason}, by_engineer=False
            )
            row, _ = self.apply(conn, row, cmd, now)
        else:
            store.add_event(conn, row.id, now, SYSTEM, "unassigned", {"reason": choice.reason})
        if choice.tell_lead and lead:
            self.outbox.publish(
                conn, "assigned", self.summary(row), now, engineers=[lead], detail={"dispatch": choice.reason}
            )
        return row

    def _suppress(self, conn: Connection, window_id: int, a: AlertInput, now: float) -> None:
        t = store.suppressed_alerts
        found = conn.execute(select(t.c.id).where(t.c.window_id == window_id, t.c.open_key == a.key)).scalar()
        if found is None:
            conn.execute(
                t.insert().values(
                    window_id=window_id,
                    open_key=a.key,
                    customer=a.customer,
                    alert=a.to_json(),
                    state=a.state,
                    first_at=now,
                    last_at=now,
                )
            )
        else:
            conn.execute(
                update(t).where(t.c.id == found).values(state=a.state, last_at=now, alert=a.to_json())
            )

    # --- Alertmanager, requests, findings -----------------------------------------------------

    def open_request(
        self,
        *,
        customer: str,
        title: str,
        description: str = "",
        category: str = "",
        urgency: str = "normal",
        contact: Mapping[str, Any] | None = None,
        host: str | None = None,
        skills: Sequence[str] = (),
        actor: str,
        now: datetime,
    ) -> TicketRow:
        """Record a customer's request (a hotline call, an e-mail) as a ticket."""
        self.check_customer(customer)
        if not title.strip():
            raise InvalidInput("a request needs a title", field="title")
        priority = self.contracts.contract(customer).priority_for_urgency(urgency)
        if priority is None:
            raise InvalidInput(f"unknown urgency {urgency!r} (critical, high, normal, low)", field="urgency")
        values = {
            "customer": customer,
            "host": host,
            "source": "manual",
            "category": category,
            "title": title.strip()[:500],
            "description": description,
            "priority": priority,
            "contact": dict(contact or {}),
            "skills": list(skills),
            "severity": urgency,
        }
        with self.engine.begin() as conn:
            row = self.open_ticket(conn, values, ts(now), actor=actor, event={"urgency": urgency})
        assert row is not None
        return row

    def open_from_finding(
        self,
        customer: str,
        host: str | None,
        finding_key: str,
        title: str,
        severity: str,
        details: Mapping[str, Any] | str | None,
        now: datetime,
    ) -> TicketRow | None:
        """A ticket for an inspection finding; None while one for the same finding is still open."""
        contract = self.contracts.contract(customer)
        key = f"{host or '-'}|finding:{finding_key}"
        text = (
            details
            if isinstance(details, str)
            else "\n".join(f"{k}: {v}" for k, v in (details or {}).items())
        )
        values = {
            "customer": customer,
            "host": host,
            "source": "inspection",
            "fingerprint": f"finding:{finding_key}",
            "category": "inspection",
            "title": title[:500],
            "description": text,
            "priority": contract.priority_for_severity(severity),
            "severity": severity,
            "open_key": key,
        }
        with self.engine.begin() as conn:
            existing = store.get_by_open_key(conn, key)
            if existing is not None and existing.is_open:
                return None
            if existing is not None:
                # Resolved and awaiting its survey: the finding is back, so it is a new ticket.
                store.update_ticket(conn, existing.id, open_key=None)
            return self.open_ticket(conn, values, ts(now), actor=SYSTEM, event={"finding": finding_key})
