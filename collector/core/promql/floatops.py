"""Float arithmetic as Prometheus (Go) does it: no exceptions, IEEE results instead.

Python raises where Go returns an infinity or NaN (``1/0``, ``fmod(x, 0)``, ``pow`` overflow),
and its ``max``/``min`` ignore NaN where Go's propagate it; rule results must match Prometheus'.
"""

from __future__ import annotations

import math

INF = math.inf
NAN = math.nan


def div(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or a != a:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)
    return a / b


def mod(a: float, b: float) -> float:
    """Go's math.Mod: the result takes the sign of ``a``."""
    if b == 0.0 or math.isinf(a) or a != a or b != b:
        return NAN
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def _is_odd_int(y: float) -> bool:
    if math.isinf(y) or y != y or y != math.floor(y):
        return False
    return abs(y) < 2.0**53 and int(y) % 2 == 1


def power(a: float, b: float) -> float:
    """Go's math.Pow, which follows C99 except that it never raises."""
    try:
        return math.pow(a, b)
    except OverflowError:
        if a < 0 and _is_odd_int(b):
            return -INF
        return INF
    except ValueError:
        if a == 0.0:
            # pow(±0, y<0): ±Inf for odd integers y, else +Inf.
            if _is_odd_int(b):
                return math.copysign(INF, a)
            return INF
        return NAN


def go_max(a: float, b: float) -> float:
    if a == INF or b == INF:
        return INF
    if a != a or b != b:
        return NAN
    if a == 0.0 and b == 0.0:
        return a if math.copysign(1.0, a) > 0 else b
    return a if a > b else b


def go_min(a: float, b: float) -> float:
    if a == -INF or b == -INF:
        return -INF
    if a != a or b != b:
        return NAN
    if a == 0.0 and b == 0.0:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def kahan_inc(inc: float, total: float, comp: float) -> tuple[float, float]:
    """One step of Neumaier's compensated sum, as Prometheus' range functions take it."""
    t = total + inc
    if abs(total) >= abs(inc):
        comp += (total - t) + inc
    else:
        comp += (inc - t) + total
    return t, comp


def go_round_half_up(v: float) -> float:
    """``math.Floor(v + 0.5)``: how PromQL's round() breaks ties (towards +Inf)."""
    return math.floor(v + 0.5) if math.isfinite(v) else v
