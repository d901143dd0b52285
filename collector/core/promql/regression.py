"""Least-squares fits over long ranges, kept up to date between evaluations.

deriv() and predict_linear() over a range of hours would re-read thousands of samples per
series at every evaluation. For ranges holding more than ``LONG_RANGE`` samples we instead keep,
per series and range, the sums a least-squares fit needs (n, Σu, Σy, Σuy, Σu², with u and y
taken from a fixed origin to keep the sums small) and slide them: each evaluation adds the
samples that entered the range and takes out those that left it. Results agree with the
exact computation to about 1e-9 relative; the sums are rebuilt from the samples every
``REBUILD_AFTER`` updates, and whenever the range jumps, so rounding cannot pile up. Short ranges
keep the exact, sample-by-sample computation that matches Prometheus bit for bit.
"""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from itertools import repeat
from weakref import WeakKeyDictionary

from collector.core.window import RecentWindow, Series

LONG_RANGE = 120
REBUILD_AFTER = 2000


class SlidingFit:
    """The running sums of one series' non-stale samples between two of its sample times."""

    __slots__ = (
        "changes", "first_t", "hi", "last_t", "lo", "n", "series", "su", "suu", "suy", "sy", "t0", "updates",
        "y0",
    )

    def __init__(self, series: Series) -> None:
        self.series = series
        self.first_t = math.inf  # time of the first sample inside (inf: none yet)
        self.last_t = -math.inf  # time of the last sample inside
        self.t0 = 0.0
        self.y0 = 0.0
        self.n = self.su = self.sy = self.suy = self.suu = 0.0
        self.changes = 0  # pairs of neighbouring samples inside whose values differ
        self.updates = 0
        self.lo = self.hi = 0  # the series' sample indices last covered, valid while ts[lo] is first_t

    def rebuild(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        s = self.series
        ts = s.ts[lo:hi]
        vs = s.vs[lo:hi]
        if any(map(math.isnan, vs)):
            keep = [v == v for v in vs]
            ts = [t for t, k in zip(ts, keep, strict=True) if k]
            vs = [v for v, k in zip(vs, keep, strict=True) if k]
        self.updates = 0
        if not vs:
            self.first_t, self.last_t = math.inf, -math.inf
            self.n = self.su = self.sy = self.suy = self.suu = 0.0
            self.changes = 0
            return
        self.t0, self.y0 = ts[0], vs[0]
        us = list(map(operator.sub, ts, repeat(self.t0)))
        ys = list(map(operator.sub, vs, repeat(self.y0)))
        self.n = float(len(us))
        self.su = math.fsum(us)
        self.sy = math.fsum(ys)
        self.suy = math.fsum(map(operator.mul, us, ys))
        self.suu = math.fsum(map(operator.mul, us, us))
        self.changes = sum(map(operator.ne, vs[1:], vs[:-1]))
        self.first_t, self.last_t = ts[0], ts[-1]

    def slide(self, lo: int, hi: int) -> None:
        """Make the sums cover the series' samples ``lo:hi``."""
        s = self.series
        ts, vs = s.ts, s.vs
        cur_lo, cur_hi = self.lo, self.hi
        k = hi - cur_hi
        if 0 < k <= 8 and lo - cur_lo == k and lo < cur_hi and self.updates < REBUILD_AFTER:
            # The steady case between two evaluations: k samples came in, k went out.
            if ts[cur_lo] == self.first_t and self._step(vs, ts, cur_lo, cur_hi, k):
                return
        elif lo == cur_lo and hi == cur_hi and lo < len(ts) and ts[lo] == self.first_t:
            return  # another rule over the same range at the same instant
        self._slide(lo, hi)

    def _step(self, vs: array, ts: array, cur_lo: int, cur_hi: int, k: int) -> bool:
        """Move both ends ``k`` samples on if no stale marker enters, leaves or becomes the first."""
        if k == 1:  # one new sample since the last evaluation: the usual case, spelled out
            a, b, c, d = vs[cur_lo], vs[cur_lo + 1], vs[cur_hi - 1], vs[cur_hi]
            if a != a or b != b or c != c or d != d:
                return False
            t0, y0 = self.t0, self.y0
            changes = self.changes + (d != c) - (a != b)
            ui, yi = ts[cur_hi] - t0, d - y0
            uo, yo = ts[cur_lo] - t0, a - y0
            self.su = self.su + ui - uo
            self.sy = self.sy + yi - yo
            self.suy = self.suy + ui * yi - uo * yo
            self.suu = self.suu + ui * ui - uo * uo
            self.changes = changes
            self.updates += 2
            self.lo, self.hi = cur_lo + 1, cur_hi + 1
            self.first_t, self.last_t = ts[cur_lo + 1], ts[cur_hi]
            return True
        leave = vs[cur_lo:cur_lo + k + 1]
        enter = vs[cur_hi - 1:cur_hi + k]
        total = sum(leave) + sum(enter)
        if total != total:  # a stale marker (or infinities): the general path sorts it out
            return False
        t0, y0 = self.t0, self.y0
        n, su, sy, suy, suu = self.n, self.su, self.sy, self.suy, self.suu
        changes = self.changes
        for j in range(1, k + 1):
            v = enter[j]
            if v != enter[j - 1]:
                changes += 1
            u = ts[cur_hi + j - 1] - t0
            y = v - y0
            su += u
            sy += y
            suy += u * y
            suu += u * u
        for j in range(k):
            v = leave[j]
            if v != leave[j + 1]:
                changes -= 1
            u = ts[cur_lo + j] - t0
            y = v - y0
            su -= u
            sy -= y
            suy -= u * y
            suu -= u * u
        self.n, self.su, self.sy, self.suy, self.suu = n, su, sy, suy, suu
        self.changes = changes
        self.updates += 2 * k
        self.lo, self.hi = cur_lo + k, cur_hi + k
        self.first_t, self.last_t = ts[cur_lo + k], ts[cur_hi + k - 1]
        return True

    def _slide(self, lo: int, hi: int) -> None:
        s = self.series
        ts, vs = s.ts, s.vs
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
            or cur_lo >= len(ts) or ts[cur_lo] != self.first_t
        ):
            self.rebuild(lo, hi)
            return
        # Values that leave or enter at either end change the count of differing neighbours too.
        t0, y0 = self.t0, self.y0
        n, su, sy, suy, suu = self.n, self.su, self.sy, self.suy, self.suu
        moved = 0
        while cur_hi < hi:
            v = vs[cur_hi]
            if v == v:
                prev = vs[cur_hi - 1] if cur_hi > cur_lo else None
                if prev is not None and prev != prev:
                    prev = _last_value(vs, cur_lo, cur_hi)
                if prev is not None and prev != v:
                    self.changes += 1
                u = ts[cur_hi] - t0
                y = v - y0
                n += 1.0
                su += u
                sy += y
                suy += u * y
                suu += u * u
                moved += 1
            cur_hi += 1
        while cur_lo < lo:
            v = vs[cur_lo]
            if v == v:
                nxt = vs[cur_lo + 1] if cur_lo + 1 < cur_hi else None
                if nxt is not None and nxt != nxt:
                    nxt = _first_value(vs, cur_lo + 1, cur_hi)
                if nxt is not None and nxt != v:
                    self.changes -= 1
                u = ts[cur_lo] - t0
                y = v - y0
                n -= 1.0
                su -= u
                sy -= y
                suy -= u * y
                suu -= u * u
                moved += 1
            cur_lo += 1
        self.n, self.su, self.sy, self.suy, self.suu = n, su, sy, suy, suu
        self.updates += moved
        if cur_hi > hi or cur_lo > lo:
            self.rebuild(lo, hi)
            return
        first = lo if vs[lo] == vs[lo] else _first_index(vs, lo, hi)
        last = hi - 1 if vs[hi - 1] == vs[hi - 1] else _last_index(vs, lo, hi)
        if first is None or last is None:
            self.rebuild(lo, hi)
            return
        self.first_t, self.last_t = ts[first], ts[last]
        self.lo, self.hi = first, last + 1

    def fit(self, intercept_t: float) -> tuple[float, float] | None:
        """Slope per second and the fitted value at ``intercept_t``; None for fewer than two samples."""
        n = self.n
        if n < 2:
            return None
        if self.changes == 0:
            return 0.0, self.y0 + self.sy / n
        cov = self.suy - self.su * self.sy / n
        var = self.suu - self.su * self.su / n
        if var == 0:
            return None
        slope = cov / var
        mean_u = self.su / n
        return slope, self.y0 + self.sy / n + slope * (intercept_t - self.t0 - mean_u)


def _first_index(vs: object, lo: int, hi: int) -> int | None:
    for i in range(lo, hi):
        v = vs[i]  # type: ignore[index]
        if v == v:
            return i
    return None


def _last_index(vs: object, lo: int, hi: int) -> int | None:
    for i in range(hi - 1, lo - 1, -1):
        v = vs[i]  # type: ignore[index]
        if v == v:
            return i
    return None


def _first_value(vs: object, lo: int, hi: int) -> float | None:
    i = _first_index(vs, lo, hi)
    return None if i is None else vs[i]  # type: ignore[index]


def _last_value(vs: object, lo: int, hi: int) -> float | None:
    i = _last_index(vs, lo, hi)
    return None if i is None else vs[i]  # type: ignore[index]


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
    """One range selector's fits, in the order of its series, looked up again only when those change."""

    def __init__(self, range_s: float, offset: float) -> None:
        self.range = range_s
        self.offset = offset
        self._series: list[Series] = []
        self._fits: list[SlidingFit | None] = []

    def fit(
        self, window: RecentWindow, all_series: list[Series], i: int, start: float, end: float
    ) -> SlidingFit | None:
        """Series ``i``'s sliding fit over ``[start, end]``; None for a range short enough to fit exactly."""
        if all_series is not self._series:
            self._series = all_series
            self._fits = [None] * len(all_series)
        series = all_series[i]
        ts = series.ts
        n = len(ts)
        hi = n if n and ts[n - 1] <= end else bisect_right(ts, end)
        lo = bisect_left(ts, start, 0, hi)
        if hi - lo <= LONG_RANGE:
            return None
        fit = self._fits[i]
        if fit is None:
            fit = FITS.fit(window, series, self.range, self.offset)
            self._fits[i] = fit
        fit.slide(lo, hi)
        return fit

    def lines(
        self, window: RecentWindow, all_series: list[Series], start: float, end: float, t: float
    ) -> list[tuple[float, float] | tuple[()] | None]:
        """Per series over ``[start, end]``: the fitted (slope, value at ``t``) over a long range,
        () for a long range with too few distinct times, or None where the range is short enough
        to fit exactly."""
        if all_series is not self._series:
            self._series = all_series
            self._fits = [None] * len(all_series)
        fits = self._fits
        out: list[tuple[float, float] | tuple[()] | None] = []
        add = out.append
        # fit() above, inlined: this loop runs for every series of every long range.
        for i, series in enumerate(all_series):
            ts = series.ts
            n = len(ts)
            hi = n if n and ts[n - 1] <= end else bisect_right(ts, end)
            lo = bisect_left(ts, start, 0, hi)
            if hi - lo <= LONG_RANGE:
                add(None)
                continue
            fit = fits[i]
            if fit is None:
                fit = FITS.fit(window, series, self.range, self.offset)
                fits[i] = fit
            cur_lo = fit.lo
            # slide()'s usual case (one sample in, one out) tested here, saving a call per series.
            if not (
                hi - fit.hi == 1 and lo - cur_lo == 1 and lo < fit.hi and fit.updates < REBUILD_AFTER
                and ts[cur_lo] == fit.first_t and fit._step(series.vs, ts, cur_lo, fit.hi, 1)
            ):
                fit.slide(lo, hi)
            # fit(), spelled out.
            n = fit.n
            if n < 2:
                add(())
            elif fit.changes == 0:
                add((0.0, fit.y0 + fit.sy / n))
            else:
                su, sy = fit.su, fit.sy
                var = fit.suu - su * su / n
                if var == 0:
                    add(())
                    continue
                slope = (fit.suy - su * sy / n) / var
                add((slope, fit.y0 + sy / n + slope * (t - fit.t0 - su / n)))
        return out
