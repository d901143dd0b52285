"""Least-squares fits over long ranges, kept up to date between evaluations.

deriv() and predict_linear() over a range of hours would re-read thousands of samples per
series at every evaluation. For ranges holding more than ``LONG_RANGE`` samples we instead keep,
per series and range, the sums a least-squares fit needs (n, Σu, Σy, Σuy, Σu², with u and y
taken from a fixed origin to keep the sums small) and slide them: each evaluation adds the
samples that entered the range and takes out those that left it. Results agree with the
exact computation to about 1e-9 relative; the sums are rebuilt from the samples every
``REBUILD_AFTER`` updates, and whenever the range jumps, so rounding cannot pile up. Short ranges
keep the exact, sample-by-sample computation that matches Prometheus bit for bit.

A range of one repeated value has slope 0 and that value exactly, whatever rounding the sums
carry: the series' marks (scan.py) tell when its value last changed, which says whether it did
inside the range.
"""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import compress, repeat
from typing import ClassVar
from weakref import WeakKeyDictionary, WeakSet

from collector.core.promql.scan import CHANGED, CHECKED, marks
from collector.core.window import RecentWindow, Series

LONG_RANGE = 20
REBUILD_AFTER = 2000

Line = tuple[float, float] | tuple[()] | None


class SlidingFit:
    """The running sums of one series' non-stale samples between two of its sample times."""

    __slots__ = (
        "first_t", "hi", "last_t", "lo", "n", "series", "su", "suu", "suy", "sy", "t0", "updates", "y0",
    )

    def __init__(self, series: Series) -> None:
        self.series = series
        self.first_t = math.inf  # time of the first sample inside (inf: none yet)
        self.last_t = -math.inf  # time of the last sample inside
        self.t0 = 0.0
        self.y0 = 0.0
        self.n = self.su = self.sy = self.suy = self.suu = 0.0
        self.updates = 0
        self.lo = self.hi = 0  # the series' sample indices last covered, valid while ts[lo] is first_t

    def rebuild(self, lo: int, hi: int, shorter: Sequence[tuple[int, SlidingFit]] = ()) -> None:
        """The sums from the samples ``lo:hi``, in C-level passes (plain sums: the sliding updates
        that follow round as much). ``shorter``: fits of the same series over ``lo':hi`` (a later
        start, the same end) to set up from the same passes (see _suffix)."""
        self.lo, self.hi = lo, hi
        s = self.series
        ts = s.ts[lo:hi]
        vs = s.vs[lo:hi]
        total = sum(vs)
        if total != total and any(map(math.isnan, vs)):
            keep = list(map(operator.eq, vs, vs))
            ts = array("d", compress(ts, keep))
            vs = array("d", compress(vs, keep))
        self.updates = 0
        if not vs:
            self.first_t, self.last_t = math.inf, -math.inf
            self.n = self.su = self.sy = self.suy = self.suu = 0.0
            return
        t0, y0 = ts[0], vs[0]
        self.t0, self.y0 = t0, y0
        us = list(map(operator.sub, ts, repeat(t0)))
        ys = list(map(operator.sub, vs, repeat(y0)))
        self.n = float(len(us))
        self.su = sum(us)
        self.sy = sum(ys)
        if shorter and len(vs) == hi - lo:
            uys = list(map(operator.mul, us, ys))
            self.suy = sum(uys)
            for sub_lo, fit in shorter:
                fit._suffix(sub_lo, hi, sub_lo - lo, us, ys, uys)
        else:
            self.suy = sum(map(operator.mul, us, ys))
            for sub_lo, fit in shorter:
                fit.rebuild(sub_lo, hi)
        # Σu² as the square of the Euclidean norm: one C-level pass, to within an ulp or two.
        self.suu = math.hypot(*us) ** 2
        self.first_t, self.last_t = ts[0], ts[-1]

    def _suffix(self, lo: int, hi: int, k: int, us: list[float], ys: list[float], uys: list[float]) -> None:
        """The sums over the samples ``lo:hi`` (no stale marker among them) from the elements of a
        longer range's rebuild that ends at ``hi``, ``k`` of them before ``lo``: summed as they
        are, then moved to this fit's own origin (its first sample), unless the move would cancel
        too many digits, when the samples are summed afresh."""
        usub, ysub = us[k:], ys[k:]
        d, e = usub[0], ysub[0]  # this fit's origin from the longer fit's
        width, low, high = usub[-1] - d, min(ysub), max(ysub)
        if not (0 < 16 * width >= d and high > low and max(high, -low) <= 1000 * (high - low)):
            self.rebuild(lo, hi)
            return
        n = float(len(usub))
        su, sy, suy = sum(usub), sum(ysub), sum(uys[k:])
        suu = math.hypot(*usub) ** 2
        s = self.series
        self.lo, self.hi, self.updates = lo, hi, 0
        self.t0, self.y0 = s.ts[lo], s.vs[lo]
        self.n = n
        self.su = su - n * d
        self.sy = sy - n * e
        self.suy = suy - e * su - d * sy + n * d * e
        self.suu = suu - 2 * d * su + n * d * d
        self.first_t, self.last_t = s.ts[lo], s.ts[hi - 1]

    def slide(self, lo: int, hi: int) -> None:
        """Make the sums cover the series' samples ``lo:hi``."""
        ts, vs = self.series.ts, self.series.vs
        if self.first_t == math.inf:
            self.rebuild(lo, hi)
            return
        if lo == self.lo and hi == self.hi and lo < len(ts) and ts[lo] == self.first_t:
            return  # another rule over the same range at the same instant
        cur_lo, cur_hi = self.lo, self.hi
        if cur_lo >= len(ts) or ts[cur_lo] != self.first_t:
            # The window dropped old samples since: find where the covered ones are now.
            cur_lo = bisect_left(ts, self.first_t)
            cur_hi = bisect_right(ts, self.last_t)
        moves = abs(lo - cur_lo) + abs(hi - cur_hi)
        if (
            lo > cur_hi or hi < cur_lo or moves > (hi - lo) // 2 or self.updates > REBUILD_AFTER
            or cur_lo >= len(ts) or ts[cur_lo] != self.first_t or cur_hi > hi or cur_lo > lo
        ):
            self.rebuild(lo, hi)
            return
        t0, y0 = self.t0, self.y0
        n, su, sy, suy, suu = self.n, self.su, self.sy, self.suy, self.suu
        moved = 0
        for j in range(cur_hi, hi):
            v = vs[j]
            if v == v:
                u = ts[j] - t0
                y = v - y0
                n += 1.0
                su += u
                sy += y
                suy += u * y
                suu += u * u
                moved += 1
        for j in range(cur_lo, lo):
            v = vs[j]
            if v == v:
                u = ts[j] - t0
                y = v - y0
                n -= 1.0
                su -= u
                sy -= y
                suy -= u * y
                suu -= u * u
                moved += 1
        self.n, self.su, self.sy, self.suy, self.suu = n, su, sy, suy, suu
        self.updates += moved
        first = lo if vs[lo] == vs[lo] else _first_index(vs, lo, hi)
        last = hi - 1 if vs[hi - 1] == vs[hi - 1] else _last_index(vs, lo, hi)
        if first is None or last is None:
            self.rebuild(lo, hi)
            return
        self.first_t, self.last_t = ts[first], ts[last]
        self.lo, self.hi = first, last + 1

    def line(self, t: float) -> Line:
        """The fitted (slope per second, value at ``t``), or () for fewer than two distinct times."""
        n = self.n
        if n < 2:
            return ()
        flat = self.flat()
        if flat is not None:
            # Prometheus' answer for one repeated value, an infinite one included.
            return (0.0, flat) if flat - flat == 0 else (math.nan, math.nan)
        su, sy = self.su, self.sy
        var = self.suu - su * su / n
        if var == 0:
            return ()
        slope = (self.suy - su * sy / n) / var
        return slope, self.y0 + sy / n + slope * (t - self.t0 - su / n)

    def flat(self) -> float | None:
        """The one value every sample inside holds (stale markers aside), or None if they differ."""
        s = self.series
        ts, vs = s.ts, s.vs
        a, b = vs[self.lo], vs[self.hi - 1]
        if a != b and a == a and b == b:
            return None  # the first and the last differ (the usual case)
        mk = s.marks
        if mk is None or mk[CHECKED] != ts[len(ts) - 1]:
            mk = marks(s)
        first = a if a == a else vs[bisect_left(ts, self.first_t)]
        changed = mk[CHANGED]
        if changed <= self.first_t:
            return first
        if changed <= self.last_t:
            return None
        # The newest change came after the range (it ends before the newest sample): look.
        return first if all(v == first or v != v for v in vs[self.lo:self.hi]) else None


def _first_index(vs: array, lo: int, hi: int) -> int | None:
    for i in range(lo, hi):
        v = vs[i]
        if v == v:
            return i
    return None


def _last_index(vs: array, lo: int, hi: int) -> int | None:
    for i in range(hi - 1, lo - 1, -1):
        v = vs[i]
        if v == v:
            return i
    return None


class FitStore:
    """Sliding fits of one window, by series and range; forgotten with the window."""

    def __init__(self) -> None:
        self._by_window: WeakKeyDictionary[RecentWindow, dict[tuple[int, float, float], SlidingFit]] = (
            WeakKeyDictionary()
        )

    def fit(self, window: RecentWindow, series: Series, range_s: float, offset: float) -> SlidingFit:
        fits = self._by_window.get(window)
        if fits is None:
            fits = {}
            self._by_window[window] = fits
        key = (id(series), range_s, offset)
        found = fits.get(key)
        if found is None or found.series is not series:
            if len(fits) % 65536 == 65535 and len(fits) > 4 * window.series_count():
                fits.clear()  # series that left the window
            found = SlidingFit(series)
            fits[key] = found
        return found


FITS = FitStore()


class RangeFits:
    """One range selector's fits, in the order of its series, looked up again only when those change.

    A fit made afresh also sets up the fresh fits of the same series over the shorter ranges
    (same offset) that other live RangeFits fit, from the same passes over the samples: the
    predictions over 6 h, 2 h and 1 h of one filesystem read its samples once on a first round.
    """

    _live: ClassVar[WeakSet[RangeFits]] = WeakSet()

    def __init__(self, range_s: float, offset: float) -> None:
        self.range = range_s
        self.offset = offset
        self._series: list[Series] = []
        self._fits: list[SlidingFit | None] = []
        RangeFits._live.add(self)

    def _shorter(self) -> list[float]:
        return sorted({f.range for f in RangeFits._live if f.offset == self.offset and f.range < self.range})

    def lines(
        self, window: RecentWindow, all_series: list[Series], tss: list[array], vss: list[array],
        start: float, end: float, t: float,
    ) -> list[Line]:
        """Per series over ``[start, end]``: the fitted (slope, value at ``t``) over a long range,
        () for a long range with too few distinct times, or None where the range is short enough
        to fit exactly. ``tss`` and ``vss`` are the series' time and value arrays."""
        if all_series is not self._series:
            self._series = all_series
            self._fits = [None] * len(all_series)
        fits = self._fits
        out: list[Line] = []
        add = out.append
        shorter: list[float] | None = None
        fresh: list[SlidingFit] = []  # fits summed afresh in this call
        for i, ts in enumerate(tss):
            n = len(ts)
            hi = n if n and ts[n - 1] <= end else bisect_right(ts, end)
            lo = bisect_left(ts, start, 0, hi)
            if hi - lo <= LONG_RANGE:
                add(None)
                continue
            fit = fits[i]
            if fit is None:
                fit = FITS.fit(window, all_series[i], self.range, self.offset)
                fits[i] = fit
            if fit.first_t == math.inf:
                if shorter is None:
                    shorter = self._shorter()
                if shorter:
                    subs = []
                    for r in shorter:
                        sub_lo = bisect_left(ts, end - r, lo, hi)
                        if hi - sub_lo > LONG_RANGE:
                            sub = FITS.fit(window, all_series[i], r, self.offset)
                            if sub.first_t == math.inf:
                                subs.append((sub_lo, sub))
                    fit.rebuild(lo, hi, subs)
            cur_lo = fit.lo
            if (
                hi - fit.hi == 1 and lo - cur_lo == 1 and fit.updates < REBUILD_AFTER
                and ts[cur_lo] == fit.first_t
            ):
                # One sample in, one out since the last evaluation (the steady case), neither of
                # them nor the new first one a stale marker: move the sums along here.
                vs = vss[i]
                a, b, d = vs[cur_lo], vs[lo], vs[hi - 1]
                if a == a and b == b and d == d:
                    t0, y0 = fit.t0, fit.y0
                    ui, yi = ts[hi - 1] - t0, d - y0
                    uo, yo = ts[cur_lo] - t0, a - y0
                    fit.su = fit.su + ui - uo
                    fit.sy = fit.sy + yi - yo
                    fit.suy = fit.suy + ui * yi - uo * yo
                    fit.suu = fit.suu + ui * ui - uo * uo
                    fit.updates += 2
                    fit.lo, fit.hi = lo, hi
                    fit.first_t, fit.last_t = ts[lo], ts[hi - 1]
                    if b != d:
                        # line(), spelled out for its usual case: the first and last values differ.
                        n = fit.n
                        su, sy = fit.su, fit.sy
                        var = fit.suu - su * su / n
                        if var != 0:
                            slope = (fit.suy - su * sy / n) / var
                            add((slope, y0 + sy / n + slope * (t - t0 - su / n)))
                            continue
                else:
                    fit.slide(lo, hi)
            else:
                fit.slide(lo, hi)
            if not fit.updates:
                fresh.append(fit)
            add(fit.line(t))
        if fresh:
            _pack(fresh)
        return out


def _pack(fits: list[SlidingFit]) -> None:
    """Give the fits' numbers new objects, made one after the other, so that each fit's numbers
    lie together in memory and the fits follow each other. Summed afresh, a fit's numbers were
    made among thousands of short-lived ones and lie far apart; the steady updates that follow
    keep each number where it was, so reading tens of thousands of fits would miss the CPU
    cache at every turn. All are made before any is replaced: a number freed and made again at
    once would take the freed one's place."""
    numbers = [
        (f.first_t * 1.0, f.last_t * 1.0, f.t0 * 1.0, f.y0 * 1.0, f.n * 1.0, f.su * 1.0, f.sy * 1.0,
         f.suy * 1.0, f.suu * 1.0, f.lo + 0, f.hi + 0)
        for f in fits
    ]
    for f, v in zip(fits, numbers, strict=True):
        f.first_t, f.last_t, f.t0, f.y0, f.n, f.su, f.sy, f.suy, f.suu, f.lo, f.hi = v
