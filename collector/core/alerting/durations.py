"""Prometheus' duration notation (``1h30m``, ``5m``, ``90s``, ``7d``), as rule files and tests write it."""

from __future__ import annotations

import re

_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def parse_prometheus_duration(text: str) -> float:
    """Seconds in a Prometheus duration; units must be in descending order and each used once."""
    if text == "0":
        return 0.0
    pos, total, last = 0, 0.0, -1
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        rank = _ORDER.index(m.group(2))
        if rank <= last:
            raise ValueError(f'not a valid duration string: "{text}"')
        last = rank
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f'not a valid duration string: "{text}"')
    return total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus notation for a number of seconds (``0s`` for zero)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit in _ORDER:
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)
