"""What engineers and customers do to tickets, and what they read: commands, surveys,
listings, a ticket's detail with its knowledge, engineers, maintenance, Alertmanager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from collector.core.knowledge import Article, applies, excerpt, parse_article, search
from collector.core.tickets import HUMAN_COMMANDS, Command
from collector.errors import Conflict, InvalidInput, NotFound
from collector.services.alertmanager import parse_alertmanager
from collector.services.ticket_base import SYSTEM, TicketBase, iso, ts
from collector.services.ticket_maintenance import add_window, end_window, load_windows, window_json
from collector.store import tickets as store
from collector.store.tickets import OPEN_STATES, TicketRow


class CommandsMixin(TicketBase):
    # --- commands -----------------------------------------------------------------------------

    def act(
        self,
        ref: str | int,
        action: str,
        *,
        actor: str,
        data: Mapping[str, Any] | None = None,
        now: datetime,
        scope: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Run one human command on a ticket (see collector.core.tickets); returns the ticket's detail."""
        if action not in HUMAN_COMMANDS:
            raise InvalidInput(
                f"unknown command {action!r}; one of {', '.join(HUMAN_COMMANDS)}", field="action"
            )
        data = dict(data or {})
        with self.engine.begin() as conn:
            row = self.find(conn, ref, scope)
            if action == "assign":
                engineer = data.get("engineer")
                if not isinstance(engineer, str) or not self.directory.exists(conn, engineer):
                    raise InvalidInput(f"unknown engineer {engineer!r}", field="engineer")
            cycle = row.reopen_count
            if action == "survey":
                self._check_survey_open(conn, row)
                data.setdefault("via", "engineer")
            row, _ = self.apply(conn, row, Command(action, actor, data), ts(now))
            if action == "survey":
                self._record_survey(conn, row, cycle, data, ts(now))
            return self.detail(conn, row, ts(now))

    def _check_survey_open(self, conn: Any, row: TicketRow) -> None:
        t = store.surveys
        done = conn.execute(
            select(t.c.id).where(t.c.ticket_id == row.id, t.c.cycle == row.reopen_count)
        ).scalar()
        if done is not None:
            raise Conflict("the survey of this resolution has already been answered", allowed=[])

    def _record_survey(
        self, conn: Any, row: TicketRow, cycle: int, data: Mapping[str, Any], now: float
    ) -> None:
        # The survey belongs to the resolution it answers (its cycle), even when it reopened the ticket.
        conn.execute(
            insert(store.surveys).values(
                ticket_id=row.id,
                cycle=cycle,
                customer=row.customer,
                engineer=row.assignee,
                rating=data.get("rating"),
                comment=str(data.get("comment") or ""),
                via=str(data.get("via") or "engineer"),
                at=now,
            )
        )

    def survey_form(self, token: str, now: datetime) -> dict[str, Any]:
        """What the survey page shows; Forbidden/Conflict when the link is bad, expired or used."""
        tid, cycle = self.links.verify(token, ts(now))
        with self.engine.connect() as conn:
            row = store.get_ticket(conn, tid)
            if row is None or row.reopen_count != cycle or row.state != "resolved":
                raise Conflict("this survey has already been answered or the ticket has moved on", allowed=[])
            self._check_survey_open(conn, row)
            return {"number": row.number, "title": row.title, "report": row.report or {}}

    def survey_by_link(self, token: str, rating: Any, comment: str, now: datetime) -> dict[str, Any]:
        """Record the customer's answer through a signed link (no login)."""
        tid, cycle = self.links.verify(token, ts(now))
        with self.engine.begin() as conn:
            row = store.get_ticket(conn, tid)
            if row is None or row.reopen_count != cycle or row.state != "resolved":
                raise Conflict("this survey has already been answered or the ticket has moved on", allowed=[])
            self._check_survey_open(conn, row)
            data = {"rating": rating, "comment": comment, "via": "link"}
            row, _ = self.apply(conn, row, Command("survey", "customer", data, by_engineer=False), ts(now))
            self._record_survey(conn, row, cycle, data, ts(now))
            return {"number": row.number, "state": row.state}

    def diagnose(
        self,
        ref: str | int,
        playbook: str,
        *,
        actor: str,
        params: Mapping[str, Any] | None,
        now: datetime,
        scope: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Run a diagnosis playbook on the ticket's host now and attach the result as an event."""
        diag = self.ctx.areas.get("diagnosis")
        if diag is None or not hasattr(diag, "run_playbook"):
            raise Conflict("remote diagnosis is not available in this collector", allowed=[])
        with self.engine.connect() as conn:
            row = self.find(conn, ref, scope)
        if not row.host:
            raise InvalidInput("the ticket names no host to diagnose", field="host")
        result = diag.run_playbook(
            playbook,
            [row.host],
            dict(params or {}),
            trigger="manual",
            ticket_id=row.number,
            requested_by=actor,
        )
        return self.attach_result(row.id, playbook, result, actor=actor, now=ts(now))

    def attach_result(
        self, ticket_id: int, playbook: str, result: Any, *, actor: str, now: float
    ) -> dict[str, Any]:
        summary = _result_summary(result)
        with self.engine.begin() as conn:
            row = store.get_ticket(conn, ticket_id)
            if row is None:
                raise NotFound("ticket", ticket_id)
            data = {"playbook": playbook, **summary}
            if row.state in ("closed", "cancelled"):
                store.add_event(conn, row.id, now, actor, "attach", data)
            else:
                row, _ = self.apply(conn, row, Command("attach", actor, data, by_engineer=False), now)
            return self.detail(conn, row, now)

    def _run_diagnosis(self, job: dict[str, Any]) -> None:
        """Outbox handler: the playbook an alert's annotation names, if the diagnosis area allows it."""
        diag = self.ctx.areas.get("diagnosis")
        now = self.ctx.clock.now()
        if diag is None or not hasattr(diag, "run_playbook"):
            return
        allowed = getattr(diag, "allowed_automatically", None)
        if not job.get("host") or (allowed is not None and not allowed(job["playbook"], job["host"])):
            with self.engine.begin() as conn:
                store.add_event(
                    conn,
                    job["ticket_id"],
                    ts(now),
                    SYSTEM,
                    "diagnosis_skipped",
                    {"playbook": job["playbook"], "reason": "not allowed to run automatically on this host"},
                )
            return
        with self.engine.connect() as conn:
            ticket = store.get_ticket(conn, job["ticket_id"])
        if ticket is None:
            return
        result = diag.run_playbook(
            job["playbook"], [job["host"]], {}, trigger="ticket", ticket_id=ticket.number, requested_by=SYSTEM
        )
        self.attach_result(
            job["ticket_id"], job["playbook"], result, actor=SYSTEM, now=ts(self.ctx.clock.now())
        )

    # --- reading ------------------------------------------------------------------------------

    def list(
        self,
        *,
        scope: Sequence[str] | None = None,
        customer: str | None = None,
        states: Sequence[str] | None = None,
        open_only: bool = False,
        assignee: str | None = None,
        host: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        customers: Sequence[str] | None = scope
        if customer:
            customers = [customer] if scope is None or customer in scope else []
        with self.engine.connect() as conn:
            rows = store.list_tickets(
                conn,
                customers=customers,
                states=list(OPEN_STATES) if open_only else states,
                assignee=assignee,
                host=host,
                limit=max(1, min(limit, 1000)),
                offset=max(offset, 0),
            )
        return [self.summary(r) for r in rows]

    def show(self, ref: str | int, *, now: datetime, scope: Sequence[str] | None = None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self.find(conn, ref, scope)
            out = self.detail(conn, row, ts(now))
            out["knowledge"] = self.knowledge_for(conn, row, scope)
            if row.state == "resolved":
                out["survey_link"] = self.survey_link(row, ts(now))
            return out

    def knowledge_for(self, conn: Any, row: TicketRow, scope: Sequence[str] | None) -> dict[str, Any]:
        """Earlier resolutions of the same alert or category (most recent first) and matching articles."""
        earlier: list[dict[str, Any]] = []
        for kind, value in (("alertname", row.alertname), ("category", row.category)):
            if not value:
                continue
            for r in store.list_tickets(
                conn, customers=scope, states=["resolved", "closed"], limit=20, **{kind: value}
            ):
                if r.id != row.id and r.report and all(e["number"] != r.number for e in earlier):
                    earlier.append(
                        {
                            "number": r.number,
                            "resolved_at": iso(r.resolved_at),
                            "customer": r.customer,
                            "cause": r.report.get("cause"),
                            "actions": r.report.get("actions"),
                        }
                    )
        earlier.sort(key=lambda e: e["resolved_at"] or "", reverse=True)
        tags = [row.labels.get("tag", "")] if row.labels.get("tag") else []
        arts = [
            {"path": a.path, "title": a.title}
            for a in self.articles()
            if applies(a, alertname=row.alertname, category=row.category, tags=tags)
        ]
        return {"resolutions": earlier[:10], "articles": arts}

    def articles(self) -> list[Article]:
        folder = self.tcfg.knowledge_path
        if folder is None:
            return []
        out = []
        root = Path(folder)
        for p in sorted(root.rglob("*.md")):
            try:
                out.append(parse_article(str(p.relative_to(root)), p.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError):
                continue
        return out

    def kb_search(self, text: str, *, scope: Sequence[str] | None = None, limit: int = 20) -> dict[str, Any]:
        """Search the articles and the service reports of earlier tickets."""
        words = text.split()
        if not words:
            raise InvalidInput("give some words to search for", field="text")
        arts = [
            {"path": a.path, "title": a.title, "excerpt": excerpt(a.body, words)}
            for a in search(self.articles(), text)[:limit]
        ]
        found: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for r in store.list_tickets(conn, customers=scope, states=["resolved", "closed"], limit=2000):
                hay = " ".join(
                    [r.title, r.alertname or "", r.category, *(str(v) for v in (r.report or {}).values())]
                )
                if all(w.lower() in hay.lower() for w in words):
                    found.append(
                        {
                            "number": r.number,
                            "title": r.title,
                            "resolved_at": iso(r.resolved_at),
                            "cause": (r.report or {}).get("cause"),
                            "actions": (r.report or {}).get("actions"),
                        }
                    )
                if len(found) >= limit:
                    break
        return {"articles": arts, "resolutions": found}

    # --- engineers, maintenance, Alertmanager -------------------------------------------------

    def engineers(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            load = store.open_load(conn)
            everyone = self.directory.all(conn)
            now = self.ctx.clock.now()
            from collector.services.ticket_contracts import engineer_of

            return [
                {
                    **e.model_dump(mode="json"),
                    "open_tickets": load.get(n, 0),
                    "on_duty": engineer_of(e).on_duty(now),
                    "on_call": engineer_of(e).is_on_call(now),
                }
                for n, e in sorted(everyone.items())
            ]

    def add_engineer(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return self.directory.add(conn, dict(spec)).model_dump(mode="json")

    def remove_engineer(self, name: str) -> None:
        with self.engine.begin() as conn:
            self.directory.remove(conn, name)

    def add_maintenance(self, *, actor: str, now: datetime, **spec: Any) -> dict[str, Any]:
        if spec.get("customer"):
            self.check_customer(spec["customer"])
        with self.engine.begin() as conn:
            wid = add_window(conn, actor=actor, now=now, **spec)
            w = next(w for w in load_windows(conn, self.contracts) if w.id == wid)
            return window_json(w, now)

    def list_maintenance(
        self, *, now: datetime, scope: Sequence[str] | None = None, include_finished: bool = False
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            windows = load_windows(conn, self.contracts)
        out = []
        for w in windows:
            if scope is not None and w.customer not in scope:
                continue
            if include_finished or not w.is_finished(now):
                out.append(window_json(w, now))
        return out

    def end_maintenance(self, window_id: int, *, now: datetime, scope: Sequence[str] | None = None) -> None:
        with self.engine.begin() as conn:
            end_window(conn, window_id, now, scope)

    def alertmanager(
        self, payload: Any, now: datetime, *, default_customer: str | None = None
    ) -> list[dict[str, Any]]:
        """Apply an Alertmanager v4 webhook: every grouped alert maps to a ticket. All or nothing."""
        alerts = parse_alertmanager(payload, default_customer=default_customer)
        for a in alerts:
            self.check_customer(a.customer)
        with self.engine.begin() as conn:
            return [self.on_alert(conn, a, ts(now)) for a in alerts]


def _result_summary(result: Any) -> dict[str, Any]:
    """What a ticket keeps of a playbook run: its id, status, counts and each host's findings."""
    if isinstance(result, Mapping):
        return {k: result[k] for k in ("run_id", "status", "summary", "findings") if k in result}
    out: dict[str, Any] = {"run_id": getattr(result, "id", None), "status": getattr(result, "status", None)}
    summary = getattr(result, "summary", None)
    if isinstance(summary, Mapping):
        out["summary"] = dict(summary)
    findings = [
        f if isinstance(f, Mapping) else str(f)
        for h in getattr(result, "hosts", None) or []
        for f in getattr(h, "findings", None) or []
    ]
    if findings:
        out["findings"] = findings[:50]
    return {k: v for k, v in out.items() if v is not None}
