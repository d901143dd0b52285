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


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (the test server's), which the client is told to trust."""
    import datetime as _dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_email_over_starttls_with_login(engine: Engine, tmp_path: Path) -> None:
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    received: list[Any] = []
    logins: list[tuple[bytes, bytes]] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.rcpt_tos)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"upkeep", b"pa55")
        logins.append((data.login, data.password))
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    password = tmp_path / "smtp.pass"
    password.write_text("pa55\n")
    try:
        base = {
            "host": "127.0.0.1",
            "port": port,
            "username": "upkeep",
            "password_file": str(password),
            "ca_file": str(cert),
        }
        good = Outbox(
            NotificationsConfig.model_validate(
                {"smtp": base, "recipients": [{"address": "desk@example.test"}]}
            ),
            lambda c, n: None,
        )
        with engine.begin() as conn:
            good.publish(conn, "opened", TICKET, 0.0)
        assert good.drain(engine, 0.0) == 1
        # Without trusting the test certificate the TLS handshake is refused: nothing is sent.
        untrusted = Outbox(
            NotificationsConfig.model_validate(
                {"smtp": {**base, "ca_file": None}, "recipients": [{"address": "ops@example.test"}]}
            ),
            lambda c, n: None,
        )
        with engine.begin() as conn:
            untrusted.publish(conn, "opened", TICKET, 1.0)
        assert untrusted.drain(engine, 1.0) == 0
    finally:
        controller.stop()
    assert received == [["desk@example.test"]]
    assert logins == [(b"upkeep", b"pa55")]
