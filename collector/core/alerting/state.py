"""The alert state machine: one rule's active alerts and one evaluation's result in, the next state out.

It follows Prometheus' alerting rules: a label set that appears becomes *pending* at that
evaluation's time and *firing* once it has been present for ``for`` (at once when ``for`` is 0);
a pending alert whose condition clears is forgotten without a word; a firing alert whose
condition clears stays firing while ``keep_firing_for`` has not run out since it first cleared,
then resolves. A condition that returns while held clears the hold.

Changes are emitted once per state change: ``firing`` when an alert starts firing, ``resolved``
when it stops. Resolved alerts leave the active set immediately (Prometheus keeps them 15 minutes
only to resend the resolution to Alertmanager; we hand it over once, durably).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from collector.core.alerting.model import ActiveAlert, AlertChange, AlertState, fingerprint


@dataclass(frozen=True)
class Candidate:
    """One element of a rule's result after labels and annotations were applied."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Step:
    """The state after one evaluation and the changes it produced, in a stable order."""

    active: dict[str, ActiveAlert]
    changes: list[AlertChange]


def advance(
    rule: str,
    active: Mapping[str, ActiveAlert],
    results: Iterable[Candidate],
    now: float,
    *,
    hold: float,
    keep_firing_for: float = 0.0,
) -> Step:
    """Apply one evaluation at ``now`` (Unix seconds) to ``active`` (alerts by fingerprint)."""
    nxt: dict[str, ActiveAlert] = {}
    changes: list[AlertChange] = []
    for c in results:
        fp = fingerprint(c.labels)
        old = active.get(fp)
        if old is not None:
            alert = replace(old, value=c.value, annotations=dict(c.annotations), keep_firing_since=None)
        else:
            alert = ActiveAlert(
                rule=rule,
                labels=dict(c.labels),
                annotations=dict(c.annotations),
                state=AlertState.PENDING,
                active_at=now,
                value=c.value,
                fingerprint=fp,
            )
        if alert.state is AlertState.PENDING and now - alert.active_at >= hold:
            alert = replace(alert, state=AlertState.FIRING, fired_at=now)
            changes.append(AlertChange.of(alert, AlertState.FIRING))
        nxt[fp] = alert
    for fp, alert in active.items():
        if fp in nxt:
            continue
        if alert.state is not AlertState.FIRING:
            continue  # cleared while pending: never reported, so nothing to resolve
        if keep_firing_for > 0:
            since = alert.keep_firing_since if alert.keep_firing_since is not None else now
            if now - since < keep_firing_for:
                nxt[fp] = replace(alert, keep_firing_since=since)
                continue
        changes.append(AlertChange.of(alert, AlertState.RESOLVED, resolved_at=now))
    return Step(nxt, changes)


def resolve_all(active: Mapping[str, ActiveAlert], now: float) -> list[AlertChange]:
    """The changes for alerts whose rule went away: firing ones resolve, pending ones vanish."""
    return [
        AlertChange.of(a, AlertState.RESOLVED, resolved_at=now)
        for a in active.values()
        if a.state is AlertState.FIRING
    ]
