"""Ticket notifications through a durable outbox.

``Outbox.publish`` runs inside the transaction that changes the ticket and only inserts
rows (one per webhook and per e-mail address), so a request never waits for a slow
receiver and a notification is never lost to a crash: it is sent by ``drain`` (the
background loop) and retried with exponential backoff until it succeeds, fails
permanently, or runs out of attempts. The same table queues playbook runs that a new
ticket asks for (channel ``diagnosis``), keeping SSH off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine

from collector.config.notify import NotificationsConfig
from collector.notify import DeliveryError
from collector.notify.email import send_mail
from collector.notify.webhook import post_json
from collector.store import tickets as store

log = logging.getLogger("upkeep.notify")

SUBJECTS = {
    "opened": "opened",
    "assigned": "assigned to you",
    "at_risk": "SLA at risk",
    "breached": "SLA breached",
    "escalated": "escalated",
    "resolved": "resolved",
    "survey": "satisfaction survey answered",
    "reopened": "reopened",
}


def _text(payload: dict[str, Any]) -> tuple[str, str]:
    t = payload.get("ticket", {})
    kind = payload.get("event", "")
    subject = f"[upkeep] {t.get('number', '')} {SUBJECTS.get(kind, kind)}: {t.get('title', '')}"
    lines = [
        f"Ticket:   {t.get('number', '')} ({t.get('state', '')})",
        f"Customer: {t.get('customer', '')}",
        f"Host:     {t.get('host') or '-'}",
        f"Priority: {t.get('priority', '')}",
        f"Assignee: {t.get('assignee') or '-'}",
        "",
    ]
    detail = payload.get("detail") or {}
    lines += [f"{k}: {v}" for k, v in detail.items()]
    if payload.get("link"):
        lines += ["", str(payload["link"])]
    return subject, "\n".join(lines) + "\n"


class Outbox:
    def __init__(
        self, config: NotificationsConfig, email_of: Callable[[Connection, str], str | None]
    ) -> None:
        self.config = config
        self._email_of = email_of
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}

    def publish(
        self,
        conn: Connection,
        kind: str,
        ticket: dict[str, Any],
        now: float,
        *,
        engineers: Iterable[str] = (),
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Queue the notifications of one event; returns how many deliveries were queued."""
        payload = {"event": kind, "at": now, "ticket": ticket, "detail": detail or {}}
        customer = ticket.get("customer")
        n = 0
        for hook in self.config.webhooks:
            if kind in hook.events and (not hook.customers or customer in hook.customers):
                store.enqueue(conn, "webhook", hook.url, kind, payload, now)
                n += 1
        if self.config.smtp is None:
            return n
        addresses: list[str] = []
        for r in self.config.recipients:
            if kind in r.events and (not r.customers or customer in r.customers):
                addresses.append(r.address)
        if self.config.email_engineers:
            for name in engineers:
                addr = self._email_of(conn, name)
                if addr:
                    addresses.append(addr)
        for addr in dict.fromkeys(addresses):
            store.enqueue(conn, "email", addr, kind, payload, now)
            n += 1
        return n

    def queue_job(
        self, conn: Connection, channel: str, target: str, payload: dict[str, Any], now: float
    ) -> None:
        """Queue work for a handler registered in ``handlers`` (e.g. a playbook run)."""
        store.enqueue(conn, channel, target, channel, payload, now)

    def _deliver(self, row: Any) -> None:
        channel, target, payload = row["channel"], row["target"], row["payload"]
        if channel == "webhook":
            hook = next((h for h in self.config.webhooks if h.url == target), None)
            token = None
            timeout = 10.0
            if hook is not None:
                timeout = hook.timeout
                if hook.token_file is not None:
                    try:
                        token = Path(hook.token_file).read_text(encoding="utf-8").strip()
                    except OSError as exc:
                        raise DeliveryError(
                            f"cannot read token_file: {exc.strerror}", permanent=True
                        ) from None
            post_json(target, payload, token=token, timeout=timeout)
        elif channel == "email":
            if self.config.smtp is None:
                raise DeliveryError("no smtp section configured", permanent=True)
            subject, body = _text(payload)
            send_mail(self.config.smtp, target, subject, body)
        else:
            handler = self.handlers.get(channel)
            if handler is None:
                raise DeliveryError(f"no handler for {channel}", permanent=True)
            handler(payload)

    def drain(
        self, engine: Engine, now: float, *, channels: Iterable[str] | None = None, limit: int = 50
    ) -> int:
        """Send what is due; returns how many were delivered. Failures are rescheduled with backoff."""
        chans = list(channels) if channels is not None else ["webhook", "email", *self.handlers]
        with engine.connect() as conn:
            rows = store.due_deliveries(conn, now, chans, limit)
        sent = 0
        for row in rows:
            values: dict[str, Any]
            try:
                self._deliver(row)
            except DeliveryError as exc:
                attempts = row["attempts"] + 1
                give_up = exc.permanent or attempts >= self.config.max_attempts
                delay = min(self.config.backoff * 2 ** (attempts - 1), self.config.max_backoff)
                values = {"attempts": attempts, "last_error": str(exc)[:2000], "next_at": now + delay}
                if give_up:
                    values["failed_at"] = now
                    log.warning("notification %s to %s given up: %s", row["kind"], row["target"], exc)
            except Exception as exc:  # a handler's bug must not stop the queue
                log.exception("handler for %s failed", row["channel"])
                values = {"attempts": row["attempts"] + 1, "last_error": repr(exc)[:2000], "failed_at": now}
            else:
                values = {"attempts": row["attempts"] + 1, "sent_at": now, "last_error": ""}
                sent += 1
            with engine.begin() as conn:
                conn.execute(update(store.outbox).where(store.outbox.c.id == row["id"]).values(**values))
        return sent

    def loop(self, engine: Engine, clock_now: Callable[[], float]) -> Callable[[asyncio.Event], Any]:
        """The background loop that drains the outbox every ``drain_interval``."""

        async def run(stop: asyncio.Event) -> None:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.drain, engine, clock_now())
                except Exception:
                    log.exception("draining the notification outbox failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.drain_interval)

        return run
