"""The notification outbox against a real HTTP receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from collector.config.notify import NotificationsConfig
from collector.services.ticket_notify import Outbox
from collector.store import tickets as store
from collector.store.migrate import upgrade
from tests.support import free_port

TICKET = {
    "number": "T-2026-000007",
    "customer": "acme",
    "title": "Disk full",
    "state": "new",
    "priority": "major",
}


class FlakyReceiver:
    """Answers 503 to the first ``failures`` posts, then 204; records what it accepted."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.accepted: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.auth.append(self.headers.get("authorization"))
                if outer.failures > 0:
                    outer.failures -= 1
                    self.send_response(503)
                else:
                    outer.accepted.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = create_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(e)
    yield e
    e.dispose()


def test_a_webhook_is_retried_with_backoff_until_it_answers(engine: Engine, tmp_path: Path) -> None:
    rx = FlakyReceiver(failures=2)
    try:
        _retried(engine, tmp_path, rx)
    finally:
        rx.close()


def _retried(engine: Engine, tmp_path: Path, rx: FlakyReceiver) -> None:
    token = tmp_path / "hook.token"
    token.write_text("s3cret\n")
    cfg = NotificationsConfig.model_validate(
        {"webhooks": [{"url": rx.url, "events": ["breached"], "token_file": str(token)}], "backoff": "10s"}
    )
    box = Outbox(cfg, lambda conn, name: None)
    with engine.begin() as conn:
        assert box.publish(conn, "opened", TICKET, 1000.0) == 0  # not an event this hook wants
        assert box.publish(conn, "breached", TICKET, 1000.0) == 1
    assert box.drain(engine, 1000.0) == 0  # 503
    assert box.drain(engine, 1005.0) == 0  # not due yet: backoff 10 s
    assert box.drain(engine, 1010.0) == 0  # 503 again; next try 20 s later
    assert box.drain(engine, 1029.0) == 0
    assert box.drain(engine, 1030.0) == 1
    assert box.drain(engine, 5000.0) == 0  # delivered once, never again
    assert [b["event"] for b in rx.accepted] == ["breached"]
    assert rx.accepted[0]["ticket"]["number"] == "T-2026-000007"
    assert set(rx.auth) == {"Bearer s3cret"}


def test_delivery_gives_up_after_max_attempts(engine: Engine) -> None:
    cfg = NotificationsConfig.model_validate(
        {"webhooks": [{"url": "http://127.0.0.1:9/"}], "max_attempts": 2}
    )
    box = Outbox(cfg, lambda conn, name: None)
    with engine.begin() as conn:
        box.publish(conn, "opened", TICKET, 0.0)
    box.drain(engine, 0.0)
    box.drain(engine, 100.0)
    with engine.connect() as conn:
        row = conn.execute(select(store.outbox)).mappings().one()
    assert row["attempts"] == 2
    assert row["failed_at"] == 100.0
    assert row["last_error"]


def test_email_reaches_a_real_smtp_server_with_login(engine: Engine, tmp_path: Path) -> None:
    received: list[tuple[list[str], Any]] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = NotificationsConfig.model_validate(
            {
                "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "sender": "desk@example.test"},
                "recipients": [{"address": "desk@example.test", "events": ["escalated"]}],
            }
        )
        box = Outbox(cfg, lambda conn, name: {"li": "li@example.test"}.get(name))
        with engine.begin() as conn:
            assert (
                box.publish(
                    conn, "escalated", TICKET, 0.0, engineers=["li", "nobody"], detail={"level": "lead"}
                )
                == 2
            )
        assert box.drain(engine, 0.0) == 2
    finally:
        controller.stop()
    assert sorted(to[0] for to, _ in received) == ["desk@example.test", "li@example.test"]
    msg = received[0][1]
    assert msg["Subject"].startswith("[upkeep] T-2026-000007 escalated")
    assert "level: lead" in msg.get_payload()
