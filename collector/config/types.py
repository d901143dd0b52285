"""Value types shared by the configuration sections."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: object) -> float:
    """'90s', '5m', '1h30m', '7d' or a number of seconds -> seconds as float."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m, 24h or 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a duration like 30s, 5m, 24h or 7d")
    text = value.strip()
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 24h or 7d")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


def parse_size(value: object) -> int:
    """'100MB', '64KiB', '1G' or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 64KiB or 100MB")
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(i?)[bB]?\s*", str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size like 64KiB or 100MB")
    base = 1024 if m.group(3) else 1000
    power = {"": 0, "k": 1, "m": 2, "g": 3}[m.group(2).lower()]
    return int(float(m.group(1)) * base**power)


Size = Annotated[int, BeforeValidator(parse_size)]


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
