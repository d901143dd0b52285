"""Functions over a range vector: rate and friends, regression, and the *_over_time family.

Each takes one series' non-stale samples in the range (times in seconds) and returns a value or
None (no output for that series). Times are converted to whole milliseconds where Prometheus
computes with them, so extrapolation and regression round exactly as Prometheus' do.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress

from collector.core.promql.floatops import kahan_inc


@dataclass(frozen=True)
class RangeArgs:
    """Where the range lies: its bounds and the evaluation time, in milliseconds, and its length."""

    start_ms: int
    end_ms: int
    eval_ms: int
    range_s: float
    params: tuple[float, ...] = ()


RangeFn = Callable[[array, array, RangeArgs], "float | None"]


def ms(t: float) -> int:
    return round(t * 1000.0)


def _extrapolated(ts: array, vs: array, a: RangeArgs, *, counter: bool, per_second: bool) -> float | None:
    n = len(vs)
    if n < 2:
        return None
    first = vs[0]
    result = vs[n - 1] - first
    if counter and not _ascending(vs):
        # Every drop is a counter reset: add back the value the counter had reached, in order.
        prev = vs[: n - 1]
        for reached in compress(prev, map(operator.lt, vs[1:], prev)):
            result += reached
    return extrapolate(result, first, ts[0], ts[n - 1], n, a, counter, per_second)


def extrapolate(
    result: float, first: float, first_t: float, last_t: float, n: int, a: RangeArgs, counter: bool,
    per_second: bool,
) -> float:
    """Prometheus' extrapolation of ``result`` (the change over ``n`` >= 2 samples, resets added
    back) from the sampled interval ``[first_t, last_t]`` to the whole range."""
    t0 = round(first_t * 1000.0)
    t1 = round(last_t * 1000.0)
    to_start = (t0 - a.start_ms) / 1000
    to_end = (a.end_ms - t1) / 1000
    sampled = (t1 - t0) / 1000
    avg_step = sampled / (n - 1)
    if counter and result > 0 and first >= 0:
        # A counter cannot go below zero: do not extrapolate past the point where it would be 0.
        to_zero = sampled * (first / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = avg_step * 1.1
    span = sampled
    span += to_start if to_start < threshold else avg_step / 2
    span += to_end if to_end < threshold else avg_step / 2
    factor = span / sampled
    if per_second:
        factor /= a.range_s
    return result * factor


# name -> (counter, per_second) for the functions ``extrapolate`` computes.
EXTRAPOLATED = {"rate": (True, True), "increase": (True, False), "delta": (False, False)}


def _ascending(vs: array) -> bool:
    """No value below the one before it (timsort confirms a sorted run in one C-level pass)."""
    values = vs.tolist()
    return values == sorted(values)


def rate(ts: array, vs: array, a: RangeArgs) -> float | None:
    return _extrapolated(ts, vs, a, counter=True, per_second=True)


def increase(ts: array, vs: array, a: RangeArgs) -> float | None:
    return _extrapolated(ts, vs, a, counter=True, per_second=False)


def delta(ts: array, vs: array, a: RangeArgs) -> float | None:
    return _extrapolated(ts, vs, a, counter=False, per_second=False)


def _instant(ts: array, vs: array, *, per_second: bool) -> float | None:
    n = len(vs)
    if n < 2:
        return None
    last, prev = vs[n - 1], vs[n - 2]
    if per_second and last < prev:
        value = last  # a counter reset between the last two samples
    else:
        value = last - prev
    step_ms = ms(ts[n - 1]) - ms(ts[n - 2])
    if step_ms == 0:
        return None
    if per_second:
        value /= step_ms / 1000
    return value


def irate(ts: array, vs: array, a: RangeArgs) -> float | None:
    return _instant(ts, vs, per_second=True)


def idelta(ts: array, vs: array, a: RangeArgs) -> float | None:
    return _instant(ts, vs, per_second=False)


def _regression(ts: array, vs: array, intercept_ms: int) -> tuple[float, float]:
    """Least-squares slope (per second) and the line's value at ``intercept_ms``.

    The sums are Neumaier-compensated as Prometheus takes them (floatops.kahan_inc), the steps
    written out in the loop: it runs for every sample of every short range fitted.
    """
    n = len(vs)
    first = vs[0]
    if vs.count(first) == n:  # NaN never counts: a range starting with one is not constant
        if math.isinf(first):
            return math.nan, math.nan
        return 0.0, first
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    for t, v in zip(ts, vs, strict=True):
        x = (round(t * 1000.0) - intercept_ms) / 1e3
        s = sx + x
        if abs(sx) >= abs(x):
            cx += (sx - s) + x
        else:
            cx += (x - s) + sx
        sx = s
        s = sy + v
        if abs(sy) >= abs(v):
            cy += (sy - s) + v
        else:
            cy += (v - s) + sy
        sy = s
        p = x * v
        s = sxy + p
        if abs(sxy) >= abs(p):
            cxy += (sxy - s) + p
        else:
            cxy += (p - s) + sxy
        sxy = s
        p = x * x
        s = sx2 + p
        if abs(sx2) >= abs(p):
            cx2 += (sx2 - s) + p
        else:
            cx2 += (p - s) + sx2
        sx2 = s
    sx += cx
    sy += cy
    sxy += cxy
    sx2 += cx2
    nf = float(n)
    cov = sxy - sx * sy / nf
    var = sx2 - sx * sx / nf
    slope = cov / var if var else (math.nan if cov == 0 else math.copysign(math.inf, cov))
    intercept = sy / nf - slope * sx / nf
    return slope, intercept


def deriv(ts: array, vs: array, a: RangeArgs) -> float | None:
    if len(vs) < 2:
        return None
    return _regression(ts, vs, ms(ts[0]))[0]


def predict_linear(ts: array, vs: array, a: RangeArgs) -> float | None:
    if len(vs) < 2:
        return None
    slope, intercept = _regression(ts, vs, a.eval_ms)
    return slope * a.params[0] + intercept


def fit_line(name: str, ts: array, vs: array, a: RangeArgs) -> tuple[float, float] | tuple[()]:
    """The fitted line deriv() (``name`` "deriv") or predict_linear() reads its value from: (slope,
    value at the function's intercept time), or () for fewer than two samples. The exact
    computations of both functions above, with the line kept for sharing."""
    if len(vs) < 2:
        return ()
    return _regression(ts, vs, ms(ts[0]) if name == "deriv" else a.eval_ms)


def changes(ts: array, vs: array, a: RangeArgs) -> float | None:
    if not vs:
        return None
    if vs.count(vs[0]) == len(vs):
        return 0.0
    return float(sum(map(operator.ne, vs[1:], vs[:-1])))


def resets(ts: array, vs: array, a: RangeArgs) -> float | None:
    if not vs:
        return None
    if _ascending(vs):
        return 0.0
    return float(sum(map(operator.lt, vs[1:], vs[:-1])))


def avg_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    if not vs:
        return None
    mean = comp = count = 0.0
    for v in vs:
        count += 1.0
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and v == v:
                continue
        mean, comp = kahan_inc(v / count - mean / count, mean, comp)
    return mean if math.isinf(mean) else mean + comp


def sum_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    if not vs:
        return None
    total = comp = 0.0
    for v in vs:
        total, comp = kahan_inc(v, total, comp)
    return total if math.isinf(total) else total + comp


def count_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return float(len(vs)) if vs else None


def last_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return vs[-1] if vs else None


def present_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return 1.0 if vs else None


# The samples of a range never hold NaN (the window's only NaN is the stale marker, which range
# selectors leave out), so the builtins give Prometheus' answer.
def min_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return min(vs) if vs else None


def max_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return max(vs) if vs else None


def _stdvar(vs: array) -> float:
    count = mean = cmean = aux = caux = 0.0
    for v in vs:
        count += 1.0
        d = v - (mean + cmean)
        mean, cmean = kahan_inc(d / count, mean, cmean)
        aux, caux = kahan_inc(d * (v - (mean + cmean)), aux, caux)
    return (aux + caux) / count


def stdvar_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return _stdvar(vs) if vs else None


def stddev_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return math.sqrt(_stdvar(vs)) if vs else None


def quantile(q: float, values: list[float]) -> float:
    """Prometheus' quantile: linear interpolation between the closest ranks."""
    if not values:
        return math.nan
    if q != q:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values)
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def quantile_over_time(ts: array, vs: array, a: RangeArgs) -> float | None:
    return quantile(a.params[0], list(vs)) if vs else None


# name -> (function, number of scalar parameters before the range, after it)
RANGE_FUNCTIONS: dict[str, tuple[RangeFn, int, int]] = {
    "rate": (rate, 0, 0),
    "increase": (increase, 0, 0),
    "delta": (delta, 0, 0),
    "irate": (irate, 0, 0),
    "idelta": (idelta, 0, 0),
    "deriv": (deriv, 0, 0),
    "predict_linear": (predict_linear, 0, 1),
    "changes": (changes, 0, 0),
    "resets": (resets, 0, 0),
    "avg_over_time": (avg_over_time, 0, 0),
    "sum_over_time": (sum_over_time, 0, 0),
    "count_over_time": (count_over_time, 0, 0),
    "last_over_time": (last_over_time, 0, 0),
    "present_over_time": (present_over_time, 0, 0),
    "min_over_time": (min_over_time, 0, 0),
    "max_over_time": (max_over_time, 0, 0),
    "stddev_over_time": (stddev_over_time, 0, 0),
    "stdvar_over_time": (stdvar_over_time, 0, 0),
    "quantile_over_time": (quantile_over_time, 1, 0),
}
