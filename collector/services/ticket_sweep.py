"""The sweep: the SLA marks and escalations, and the ticket housekeeping that time triggers.

``sweep(now)`` is idempotent and safe to run from several processes: every mark is an
insert into ``sla_marks`` under a UNIQUE constraint, and its event and notifications
are written only by the transaction whose insert succeeded. So an at-risk warning, a
breach or an escalation fires exactly once, across restarts. It also:

- closes resolved tickets whose survey went unanswered for ``survey_timeout_days``;
- resolves tickets whose alert recovered and stayed quiet for ``auto_resolve_quiet``
  (never while flapping);
- ends the flapping mark of tickets whose alert calmed down;
- opens the tickets of alerts still firing when their maintenance window ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from collector.core.flapping import FlapState, observe
from collector.core.maintenance import suppressing
from collector.core.tickets import Command
from collector.services.ticket_base import SYSTEM, TicketBase, dt, ts
from collector.services.ticket_maintenance import load_windows
from collector.store import tickets as store
from collector.store.tickets import OPEN_STATES, TicketRow

AUTO_REPORT = {
    "cause": "the alert recovered by itself",
    "actions": "none: resolved automatically after a quiet period",
    "result": "the alert stayed resolved",
    "parts": [],
}


class SweepMixin(TicketBase):
    def sweep(self, now: datetime) -> dict[str, int]:
        """One pass; returns how many of each thing it did (for logs and tests)."""
        t = ts(now)
        counts = {
            "at_risk": 0,
            "breached": 0,
            "escalated": 0,
            "auto_resolved": 0,
            "survey_closed": 0,
            "released": 0,
            "flapping_stopped": 0,
        }
        with self.engine.connect() as conn:
            ids = [r.id for r in store.list_tickets(conn, states=[*OPEN_STATES, "resolved"], limit=100_000)]
        for tid in ids:
            with self.engine.begin() as conn:
                row = store.get_ticket(conn, tid, for_update=True)
                if row is None:
                    continue
                self._sweep_one(conn, row, t, counts)
        with self.engine.begin() as conn:
            counts["released"] = self._release_suppressed(conn, now)
        return counts

    def _sweep_one(self, conn: Connection, row: TicketRow, now: float, counts: dict[str, int]) -> None:
        if row.state == "resolved":
            timeout = self.tcfg.survey_timeout_days * 86400.0
            if row.resolved_at is not None and now - row.resolved_at >= timeout:
                cmd = Command("close", SYSTEM, {"reason": "no survey answer"}, by_engineer=False)
                self.apply(conn, row, cmd, now)
                conn.execute(
                    store.surveys.insert().values(
                        ticket_id=row.id,
                        cycle=row.reopen_count,
                        customer=row.customer,
                        engineer=row.assignee,
                        rating=None,
                        comment="",
                        via="timeout",
                        at=now,
                    )
                )
                counts["survey_closed"] += 1
            return
        if row.flapping:
            flap, flip = observe(
                FlapState(tuple(row.flap_changes), True),
                dt(now),
                self._flap_settings(),  # type: ignore[arg-type]
                changed=False,
            )
            store.update_ticket(conn, row.id, flap_changes=list(flap.changes))
            if flip is False:
                row, _ = self.apply(
                    conn, row, Command("flapping", SYSTEM, {"on": False}, by_engineer=False), now
                )
                counts["flapping_stopped"] += 1
        quiet = self.tcfg.auto_resolve_quiet
        if (
            quiet > 0
            and not row.flapping
            and row.alert_state == "resolved"
            and row.alert_changed_at is not None
            and now - row.alert_changed_at >= quiet
        ):
            cmd = Command("resolve", SYSTEM, {"report": AUTO_REPORT, "automatic": True}, by_engineer=False)
            self.apply(conn, row, cmd, now)
            counts["auto_resolved"] += 1
            return
        self._sla(conn, row, now, counts)

    def _flap_settings(self) -> Any:
        from collector.core.flapping import FlapSettings

        f = self.tcfg.flap
        return FlapSettings(history=f.history, high=f.high, low=f.low, window=f.window)

    def _sla(self, conn: Connection, row: TicketRow, now: float, counts: dict[str, int]) -> None:
        deadlines = self.deadlines(row)
        # Marks already made are skipped without a write; the unique constraint stays the arbiter of races.
        done = {(m["kind"], m["mark"], m["cycle"]) for m in store.marks_of(conn, row.id)}
        lead = self.contracts.contract(row.customer).team_lead
        people = [p for p in (row.assignee, lead) if p]
        for kind, d in deadlines.items():
            if self.met_at(row, kind) is not None or d.due is None:
                continue
            cycle = self.cycle_of(row, kind)
            due = ts(d.due)
            if (
                d.at_risk is not None
                and ts(d.at_risk) <= now < due
                and (kind, "at_risk", cycle) not in done
                and store.add_mark(conn, row, kind, "at_risk", cycle, now, due)
            ):
                store.add_event(conn, row.id, now, SYSTEM, "sla_at_risk", {"deadline": kind, "due": due})
                self.outbox.publish(
                    conn,
                    "at_risk",
                    self.summary(row),
                    now,
                    engineers=people,
                    detail={"deadline": kind, "due": d.due.isoformat()},
                )
                counts["at_risk"] += 1
            if (
                now >= due
                and (kind, "breached", cycle) not in done
                and store.add_mark(conn, row, kind, "breached", cycle, now, due)
            ):
                store.add_event(conn, row.id, now, SYSTEM, "sla_breached", {"deadline": kind, "due": due})
                self.outbox.publish(
                    conn,
                    "breached",
                    self.summary(row),
                    now,
                    engineers=people,
                    detail={"deadline": kind, "due": d.due.isoformat()},
                )
                counts["breached"] += 1
        self._escalate(conn, row, deadlines, now, counts, done)

    def _escalate(
        self,
        conn: Connection,
        row: TicketRow,
        deadlines: dict[str, Any],
        now: float,
        counts: dict[str, int],
        done: set[tuple[str, str, int]],
    ) -> None:
        window = self.contracts.window(row.customer)
        contract = self.contracts.contract(row.customer)
        for level in contract.escalation:
            d = deadlines.get(level.deadline)
            if d is None or d.due is None or self.met_at(row, level.deadline) is not None:
                continue
            if ts(d.due) > now:
                continue
            cycle = self.cycle_of(row, level.deadline)
            if ("escalation", level.name, cycle) in done:
                continue
            when = window.add(d.due, level.after, self.pauses(row)) if level.after else d.due
            if ts(when) > now:
                continue
            if not store.add_mark(conn, row, "escalation", level.name, cycle, now, ts(when)):
                continue
            notify = list(level.engineers)
            for role in level.roles:
                notify += [e.name for e in self.directory.with_role(conn, role, row.customer)]
            if "lead" in level.roles and contract.team_lead:
                notify.append(contract.team_lead)
            notify = list(dict.fromkeys(notify))
            cmd = Command("escalate", SYSTEM, {"level": level.name, "notify": notify}, by_engineer=False)
            row, _ = self.apply(conn, row, cmd, now)
            counts["escalated"] += 1

    def _release_suppressed(self, conn: Connection, now: datetime) -> int:
        """Open the tickets of alerts still firing when the window that suppressed them ended."""
        t = store.suppressed_alerts
        windows = {w.id: w for w in load_windows(conn, self.contracts, now)}
        pending = conn.execute(select(t).where(t.c.released_at.is_(None))).mappings().all()
        n = 0
        for m in pending:
            w = windows.get(m["window_id"])
            if w is not None and w.is_open(now):
                continue
            from collector.services.ticket_intake import AlertInput

            a = AlertInput.from_json(m["alert"])
            if suppressing(list(windows.values()), a.customer, a.host, a.labels, now) is not None:
                continue  # another window still covers it: released when that one ends
            conn.execute(update(t).where(t.c.id == m["id"]).values(released_at=ts(now)))
            if m["state"] != "firing":
                continue
            result = self.on_alert(conn, a, ts(now))  # type: ignore[attr-defined]
            if result.get("result") == "opened":
                row = store.get_by_open_key(conn, a.key)
                if row is not None:
                    store.add_event(
                        conn,
                        row.id,
                        ts(now),
                        SYSTEM,
                        "after_maintenance",
                        {"window": m["window_id"], "suppressed_since": m["first_at"]},
                    )
                n += 1
        return n
