"""What an alert is: its identity (a fingerprint of its labels), its state, and the changes handed on.

The fingerprint is the 64-bit FNV-1a hash of the sorted label set with a 0xff byte after each
name and each value, printed as 16 hex digits: the same figure Alertmanager shows and sends in its
webhook, so an alert evaluated here and the same rule evaluated by Prometheus and fed through
Alertmanager carry the same fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
_SEP = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """The stable hash of a label set (order-independent), as Alertmanager computes it."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEP) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    # Resolved alerts leave the active set at once: the change that says so is emitted exactly once.
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ActiveAlert:
    """One pending or firing alert of one rule: the state the machine carries between evaluations.

    Times are Unix seconds (the window's time axis). ``keep_firing_since`` is set while a firing
    alert is held by ``keep_firing_for`` after its condition cleared.
    """

    rule: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: AlertState
    active_at: float
    value: float
    fired_at: float | None = None
    keep_firing_since: float | None = None
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class AlertChange:
    """An alert that started firing or resolved, as handed to the ticket area.

    Promise: one change per state change of an alert — ``firing`` once when it starts firing,
    ``resolved`` once when it stops (after ``keep_firing_for``). A long-firing alert is not
    repeated on every evaluation; an alert that cleared while still pending produces nothing.
    """

    alertname: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str
    active_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    value: float
    host: str | None = field(init=False)
    customer: str | None = field(init=False)
    playbook: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", self.labels.get("host"))
        object.__setattr__(self, "customer", self.labels.get("customer"))
        object.__setattr__(self, "playbook", self.annotations.get("playbook") or None)

    @property
    def severity(self) -> str | None:
        return self.labels.get("severity")

    @classmethod
    def of(cls, alert: ActiveAlert, state: AlertState, *, resolved_at: float | None = None) -> AlertChange:
        return cls(
            alertname=alert.alertname,
            fingerprint=alert.fingerprint,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            state=state.value,
            active_at=to_datetime(alert.active_at),
            fired_at=to_datetime(alert.fired_at) if alert.fired_at is not None else None,
            resolved_at=to_datetime(resolved_at) if resolved_at is not None else None,
            value=alert.value,
        )
