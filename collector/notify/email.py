"""Send an e-mail through SMTP, with STARTTLS (or TLS from the start) and login when configured."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from collector.config.notify import SmtpConfig
from collector.notify import DeliveryError


def _context(cfg: SmtpConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    return ctx


def send_mail(cfg: SmtpConfig, to: str, subject: str, body: str) -> None:
    """Deliver one message to ``to``; a refused recipient is permanent, a connection problem retryable."""
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    password = None
    if cfg.password_file is not None:
        try:
            password = Path(cfg.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeliveryError(f"cannot read smtp.password_file: {exc.strerror}", permanent=True) from None
    try:
        if cfg.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=_context(cfg)
            )
        else:
            client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        with client:
            client.ehlo()
            if cfg.starttls and not cfg.tls:
                client.starttls(context=_context(cfg))
                client.ehlo()
            if cfg.username:
                client.login(cfg.username, password or "")
            client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"recipient refused: {to}: {exc.recipients}", permanent=True) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP login refused: {exc.smtp_code}", permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}") from None
