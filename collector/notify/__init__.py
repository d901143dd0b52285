"""Delivery of ticket notifications: a JSON webhook and e-mail over SMTP.

Each sender delivers one message or raises ``DeliveryError`` (``permanent`` when a
retry cannot help, e.g. a 4xx answer or a refused recipient). Retries, backoff and
durability belong to the outbox that calls them (collector.services.ticket_notify).
"""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)
