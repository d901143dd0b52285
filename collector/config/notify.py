"""The notifications section: webhooks and e-mail, each for chosen kinds of ticket events."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from collector.config.types import Duration, Section

EventKind = Literal[
    "opened", "assigned", "at_risk", "breached", "escalated", "resolved", "survey", "reopened"
]
EVENT_KINDS: tuple[str, ...] = (
    "opened", "assigned", "at_risk", "breached", "escalated", "resolved", "survey", "reopened",
)


class WebhookConfig(Section):
    """A URL that receives each chosen event as a JSON POST, retried with backoff until it answers 2xx."""

    url: str
    events: tuple[EventKind, ...] = EVENT_KINDS  # type: ignore[assignment]
    # Only these customers' events; empty means all.
    customers: tuple[str, ...] = ()
    # A file holding a bearer token sent as Authorization.
    token_file: Path | None = None
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


class SmtpConfig(Section):
    host: str = "127.0.0.1"
    port: int = 587
    # STARTTLS on a plain connection (port 587), or TLS from the start (port 465).
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password_file: Path | None = None
    sender: str = "upkeep@localhost"
    timeout: Duration = 30.0
    # Only for a test server with a self-signed certificate; never in production.
    ca_file: Path | None = None


class RecipientConfig(Section):
    """An address told about the chosen events (engineers are also told about their own tickets)."""

    address: str
    events: tuple[EventKind, ...] = EVENT_KINDS  # type: ignore[assignment]
    customers: tuple[str, ...] = ()

    @field_validator("address")
    @classmethod
    def _mail(cls, v: str) -> str:
        if "@" not in v:
            raise ValueError("is not an e-mail address")
        return v


class NotificationsConfig(Section):
    webhooks: tuple[WebhookConfig, ...] = ()
    smtp: SmtpConfig | None = None
    recipients: tuple[RecipientConfig, ...] = ()
    # E-mail the engineers concerned (assignee, escalation levels, team lead) at their configured address.
    email_engineers: bool = True
    max_attempts: int = Field(default=10, ge=1)
    backoff: Duration = 5.0
    max_backoff: Duration = 3600.0
    drain_interval: Duration = 2.0
