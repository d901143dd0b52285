"""promtool's series notation, for rule tests: ``"1+2x10"``, ``"0 _ 3 stale"``, ``"_x3"``...

Items are separated by spaces; sample ``i`` of a series is at ``i * interval`` seconds.

    a           the value a (a number, Inf, NaN, or ``stale`` for a stale marker)
    _           no sample at this step
    _xN         no sample for N steps
    axN         a, N+1 times
    a+bxN       a, a+b, a+2b ... N+1 values (a-bxN counts down); each added to the one before,
                as promtool does, so rounding matches

Because the recent window cannot hold a NaN that is not a stale marker, a NaN value loads as one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from collector.core.promql.model import PromQLError
from collector.core.window import STALE, RecentWindow

__all__ = ["STALE", "load_input_series", "parse_series_values"]

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|[iI][nN][fF]|[nN][aA][nN]|stale)"
    r"|(?P<sign>[-+])|(?P<times>x)|(?P<blank>_))"
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].strip()[:10]
            raise PromQLError(f"series values {text!r}: unexpected {bad!r} at character {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _number(tok: str) -> float:
    low = tok.lower()
    if low == "stale":
        return STALE
    if low.startswith("0x"):
        return float(int(low, 16))
    return float(low)


def parse_series_values(text: str, interval: float = 60.0) -> list[float | None]:
    """The values a promtool ``values`` string stands for, one per step; None where a step has none.

    ``interval`` is the step the values are meant for; it does not change them.
    """
    toks = _tokens(text)
    out: list[float | None] = []
    i = 0
    n = len(toks)

    def fail(at: int, what: str) -> PromQLError:
        where = f"at character {toks[at][2]}" if at < n else "at the end"
        return PromQLError(f"series values {text!r}: {what} {where}")

    def count(at: int) -> int:
        if at >= n or toks[at][0] != "num" or not toks[at][1].isdigit():
            raise fail(at, "expected a whole number of steps after 'x'")
        return int(toks[at][1])

    def signed(at: int) -> tuple[float, int, bool]:
        """A value at ``at`` with its optional sign: (value, next index, was signed)."""
        sign = 1.0
        was_signed = False
        if at < n and toks[at][0] == "sign":
            sign = -1.0 if toks[at][1] == "-" else 1.0
            was_signed = True
            at += 1
        if at >= n or toks[at][0] != "num":
            raise fail(at, "expected a value")
        if was_signed and toks[at][1] == "stale":
            raise fail(at, "a stale marker takes no sign")
        return sign * _number(toks[at][1]), at + 1, was_signed

    while i < n:
        kind = toks[i][0]
        if kind == "blank":
            if i + 1 < n and toks[i + 1][0] == "times":
                out.extend([None] * count(i + 2))
                i += 3
            else:
                out.append(None)
                i += 1
            continue
        value, i, _ = signed(i)
        if i < n and toks[i][0] == "times":
            out.extend([value] * (count(i + 1) + 1))
            i += 2
        elif i + 2 < n and toks[i][0] == "sign" and toks[i + 1][0] == "num" and toks[i + 2][0] == "times":
            step, after, _ = signed(i)
            if math.isnan(value) or math.isnan(step):
                raise fail(i, "a stale marker cannot be counted up or down")
            steps = count(after + 1)
            for _ in range(steps + 1):
                out.append(value)
                value += step
            i = after + 2
        else:
            out.append(value)
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
