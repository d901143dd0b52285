"""Alertmanager's webhook payload (version 4) -> alert changes, validated strictly.

Every alert of the group maps to one ticket keyed by its host and fingerprint. The
host is the ``host`` label, else ``instance`` without its port; the customer is the
``customer`` label, else the ``default`` customer. A payload that is not what
Alertmanager sends is refused whole, naming the field, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from collector.core.alerting.model import fingerprint as label_fingerprint
from collector.errors import InvalidInput


def _when(value: Any, field: str) -> float | None:
    if value in (None, "", "0001-01-01T00:00:00Z"):
        return None
    if not isinstance(value, str):
        raise InvalidInput("expected an RFC 3339 time", field=field)
    text = value.replace("Z", "+00:00")
    # Alertmanager writes nanoseconds; Python's parser takes at most microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{value!r} is not an RFC 3339 time", field=field) from None
    if t.tzinfo is None:
        raise InvalidInput("the time has no offset", field=field)
    return t.timestamp()


def _labels(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput("expected an object of string values", field=field)
    return dict(value)


def parse_alertmanager(payload: Any, *, default_customer: str | None) -> list[Any]:
    """The alert changes of one webhook call (AlertInput values), or InvalidInput naming the field."""
    from collector.services.ticket_intake import AlertInput

    if not isinstance(payload, Mapping):
        raise InvalidInput("the body must be a JSON object", field="body")
    if str(payload.get("version", "")) != "4":
        raise InvalidInput("only version 4 of Alertmanager's webhook payload is understood", field="version")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise InvalidInput("expected a non-empty list of alerts", field="alerts")
    common = _labels(payload.get("commonLabels"), "commonLabels")
    out = []
    for i, a in enumerate(alerts):
        where = f"alerts.{i}"
        if not isinstance(a, Mapping):
            raise InvalidInput("expected an object", field=where)
        status = a.get("status")
        if status not in ("firing", "resolved"):
            raise InvalidInput("status is firing or resolved", field=f"{where}.status")
        labels = {**common, **_labels(a.get("labels"), f"{where}.labels")}
        annotations = _labels(a.get("annotations"), f"{where}.annotations")
        name = labels.get("alertname")
        if not name:
            raise InvalidInput("the alert has no alertname label", field=f"{where}.labels.alertname")
        starts = _when(a.get("startsAt"), f"{where}.startsAt")
        ends = _when(a.get("endsAt"), f"{where}.endsAt")
        fingerprint = a.get("fingerprint")
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise InvalidInput("expected a string", field=f"{where}.fingerprint")
        if not fingerprint:
            # The same hash Alertmanager and our own evaluator use, so both paths meet on one ticket.
            fingerprint = label_fingerprint(labels)
        host = labels.get("host") or (labels.get("instance", "").rsplit(":", 1)[0] or None)
        customer = labels.get("customer") or default_customer or "default"
        at = (ends if status == "resolved" else starts) or starts or 0.0
        out.append(
            AlertInput(
                alertname=name,
                fingerprint=fingerprint,
                state=status,
                at=at,
                customer=customer,
                host=host,
                labels=labels,
                annotations=annotations,
                source="alertmanager",
            )
        )
    return out
