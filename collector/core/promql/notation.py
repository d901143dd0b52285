"""promtool's series notation, for rule tests: ``"1+2x10"``, ``"0 _ 3 stale"``, ``"_x3"``...

Items are separated by spaces; sample ``i`` of a series is at ``i * interval`` seconds.

    a           the value a (a decimal number, Inf or NaN), or ``stale`` for a stale marker
    _           no sample at this step
    _xN         no sample for N steps
    axN         a, N+1 times
    a+bxN       a, a+b, a+2b ... N+1 values (a-bxN counts down); each added to the one before,
                as promtool does, so rounding matches

Because the recent window cannot hold a NaN that is not a stale marker, a NaN value loads as one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from collector.core.promql.model import PromQLError
from collector.core.window import STALE, RecentWindow

__all__ = ["STALE", "load_input_series", "parse_series_values"]

_NUMBER = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[iI][nN][fF]|[nN][aA][nN]"
# Hexadecimal is not allowed: promtool reads "0x3" as 0 repeated, not as 3.
_ITEM = re.compile(
    rf"(?P<blank>_)(?:x(?P<blanks>[0-9]+))?"
    rf"|(?P<stale>stale)"
    rf"|(?P<value>[-+]?(?:{_NUMBER}))(?:(?P<step>[-+](?:{_NUMBER}))?x(?P<times>[0-9]+))?"
)


def parse_series_values(text: str, interval: float = 60.0) -> list[float | None]:
    """The values a promtool ``values`` string stands for, one per step; None where a step has none.

    Items are separated by white space, as promtool separates them: ``"5 -1x2"`` is 5 then -1
    three times, while ``"5-1x2"`` is 5, 4, 3. ``interval`` does not change the values.
    """
    out: list[float | None] = []
    pos = 0
    for item in text.split():
        pos = text.index(item, pos)
        m = _ITEM.fullmatch(item)
        if m is None:
            raise PromQLError(f"series values {text!r}: cannot read {item!r} at character {pos}")
        pos += len(item)
        if m["blank"]:
            out.extend([None] * (int(m["blanks"]) if m["blanks"] else 1))
        elif m["stale"]:
            out.append(STALE)
        elif m["times"] is None:
            out.append(float(m["value"]))
        elif m["step"] is None:
            out.extend([float(m["value"])] * (int(m["times"]) + 1))
        else:
            value, step = float(m["value"]), float(m["step"])
            for _ in range(int(m["times"]) + 1):
                out.append(value)
                value += step
    return out


def load_input_series(input_series: Sequence[Mapping[str, str]], interval: float) -> RecentWindow:
    """A window holding promtool ``input_series`` entries, sample ``i`` at ``i * interval`` seconds."""
    from collector.core.promql.exprtest import parse_labels

    loaded: list[tuple[dict[str, str], list[float | None]]] = []
    last = 0.0
    for entry in input_series:
        labels = parse_labels(str(entry.get("series", "")))
        if "__name__" not in labels:
            raise PromQLError(f"input series {entry.get('series')!r} has no metric name")
        values = parse_series_values(str(entry.get("values", "")), interval)
        loaded.append((labels, values))
        last = max(last, len(values) * interval)
    window = RecentWindow(retention=last + 3600.0)
    for labels, values in loaded:
        name = labels["__name__"]
        rest = {k: v for k, v in labels.items() if k != "__name__"}
        # Each input series gets a host key of its own so that two series never share a cache slot.
        host = repr(sorted(labels.items()))
        for step, value in enumerate(values):
            if value is not None:
                window.append(host, name, rest, step * interval, value)
    return window
