"""Flap detection for an alert, in the manner of Nagios: a weighted share of recent state changes.

The score is the weighted number of state changes within the last ``window`` seconds
(at most ``history - 1`` of them), divided by ``history - 1``. Newer changes weigh
more (1.2) than older ones (0.8), as in Nagios, so a burst that stops fades out. With
hysteresis an alert starts flapping when the score reaches ``high`` and stops only when
it falls below ``low``, so the flag itself does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class FlapSettings:
    history: int = 21
    high: float = 0.20
    low: float = 0.05
    window: float = 3600.0


@dataclass(frozen=True)
class FlapState:
    changes: tuple[float, ...] = ()  # POSIX times of state changes, oldest first
    flapping: bool = False


def score(state: FlapState, now: datetime, cfg: FlapSettings) -> float:
    """The flap score in [0, 1] at ``now``."""
    t = now.timestamp()
    recent = [c for c in state.changes if t - cfg.window < c <= t][-(cfg.history - 1) :]
    if not recent:
        return 0.0
    total = 0.0
    for c in recent:
        age = min(max((t - c) / cfg.window, 0.0), 1.0)
        total += 1.2 - 0.4 * age
    return min(total / (cfg.history - 1), 1.0)


def observe(
    state: FlapState, now: datetime, cfg: FlapSettings, *, changed: bool
) -> tuple[FlapState, bool | None]:
    """Record an evaluation (``changed`` when the alert changed state) and re-judge flapping.

    Returns the new state and True/False when flapping started/stopped, None when it did not change.
    """
    t = now.timestamp()
    changes = state.changes
    if changed:
        changes = (*changes, t)
    changes = tuple(c for c in changes if c > t - cfg.window)[-(cfg.history - 1) :]
    new = replace(state, changes=changes)
    s = score(new, now, cfg)
    if not state.flapping and s >= cfg.high:
        return replace(new, flapping=True), True
    if state.flapping and s < cfg.low:
        return replace(new, flapping=False), False
    return new, None
