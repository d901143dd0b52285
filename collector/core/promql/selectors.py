"""Vector and range selectors over the recent window.

Boundaries follow Prometheus 2.x, the release Debian ships and whose promtool checks our rule
files: an instant selector takes the newest sample in ``[t - lookback, t]`` and a range selector
``[t - range, t]``, both closed (Prometheus 3 made them left-open). A stale marker (NaN) hides a
series from instant selectors and is skipped by range selectors.
"""

from __future__ import annotations

import math
import operator
import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, itemgetter

from collector.core.promql.model import PromQLError, UnsupportedExpression
from collector.core.window import RecentWindow, Series

# RE2's POSIX classes mean something else (or nothing) to Python's re; translate the common ones.
_POSIX_CLASSES = {
    "[:alpha:]": "a-zA-Z", "[:digit:]": "0-9", "[:alnum:]": "0-9a-zA-Z", "[:upper:]": "A-Z",
    "[:lower:]": "a-z", "[:space:]": r"\t\n\v\f\r ", "[:xdigit:]": "0-9A-Fa-f", "[:word:]": "0-9A-Za-z_",
    "[:punct:]": r"!-/:-@\[-`{-~", "[:blank:]": r"\t ", "[:cntrl:]": r"\x00-\x1f\x7f",
    "[:print:]": r" -~", "[:graph:]": r"!-~", "[:ascii:]": r"\x00-\x7f",
}


def compile_regex(pattern: str, expr: str = "") -> re.Pattern[str]:
    """A PromQL (RE2) regex as a Python pattern; PromQL anchors it, so callers use ``fullmatch``."""
    translated = pattern
    for posix, chars in _POSIX_CLASSES.items():
        translated = translated.replace(posix, chars)
    if "[:" in translated or r"\p" in translated or r"\P" in translated or r"\Q" in translated:
        raise UnsupportedExpression(f"regex syntax in {pattern!r}", expr)
    try:
        return re.compile(f"(?:{translated})")
    except re.error as e:
        raise PromQLError(f"invalid regular expression {pattern!r}: {e}") from e


Predicate = Callable[[str], bool]


@dataclass(frozen=True)
class LabelMatcher:
    """One ``name op "value"`` matcher; a missing label matches as the empty string."""

    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str
    test: Predicate

    @classmethod
    def build(cls, name: str, op: str, value: str, expr: str = "") -> LabelMatcher:
        if op == "=":
            test: Predicate = value.__eq__
        elif op == "!=":
            test = value.__ne__
        else:
            rx = compile_regex(value, expr)
            full = rx.fullmatch
            if op == "=~":
                def test(s: str) -> bool:
                    return full(s) is not None
            else:
                def test(s: str) -> bool:
                    return full(s) is None
        return cls(name, op, value, test)

    def matches(self, labels: dict[str, str]) -> bool:
        return self.test(labels.get(self.name, ""))


class SeriesSelector:
    """The series a selector's matchers pick, kept while the window's set of series is the same."""

    def __init__(self, name: str | None, matchers: list[LabelMatcher]) -> None:
        self.name = name
        self.name_matchers = [m for m in matchers if m.name == "__name__"]
        self.matchers = [m for m in matchers if m.name != "__name__"]
        # Per matcher, its verdict on each label value seen: a fleet repeats a few values
        # (fstype, mode, device) on every host, so each regex runs once per distinct value.
        self._verdicts: list[dict[str, bool]] = [{} for _ in self.matchers]
        self._generation = -1
        self._last_selected: list[Series] = []
        self._arrays: tuple[list[array], list[array]] | None = None

    def candidates(self, window: RecentWindow) -> Iterable[Series]:
        if self.name is not None:
            return window.series_named(self.name)
        names = [n for n in window.names() if all(m.test(n) for m in self.name_matchers)]
        return [s for n in names for s in window.series_named(n)]

    def select(self, window: RecentWindow) -> list[Series]:
        """The matching series, in the window's order; the same list object while nothing changed."""
        generation = window.generation(self.name)
        if generation == self._generation:
            return self._last_selected
        selected = self._select(list(self.candidates(window)))
        self._generation, self._last_selected = generation, selected
        self._arrays = None
        return selected

    def arrays(self, window: RecentWindow) -> tuple[list[Series], list[array], list[array]]:
        """The selection and its series' time and value arrays, as columns kept with it (a
        series keeps its arrays for life), so that a pass over them need not visit each series."""
        selected = self.select(window)
        arrays = self._arrays
        if arrays is None:
            arrays = self._arrays = (list(map(_TS, selected)), list(map(_VS, selected)))
        return selected, arrays[0], arrays[1]

    def _select(self, candidates: list[Series]) -> list[Series]:
        if not self.matchers or not candidates:
            return candidates
        keep: list[bool] | None = None
        for m, verdicts in zip(self.matchers, self._verdicts, strict=True):
            values = list(map(dict.get, map(_LABELS, candidates), repeat(m.name), repeat("")))
            if len(verdicts) > _VERDICT_LIMIT:
                verdicts.clear()  # label values that come and go (a host name, say)
            test = m.test
            for v in set(values).difference(verdicts):
                verdicts[v] = test(v)
            ok = list(map(verdicts.__getitem__, values))
            keep = ok if keep is None else list(map(operator.and_, keep, ok))
        assert keep is not None
        return list(compress(candidates, keep))


_LABELS = attrgetter("labels")
_VERDICT_LIMIT = 10_000


def instant_samples(
    series: Iterable[Series], t: float, lookback: float, *, with_times: bool = False
) -> tuple[list[dict[str, str]], list[float], list[float] | None]:
    """Each series' newest sample in ``[t - lookback, t]``, unless that sample is a stale marker.

    Returns the columns: label dicts (the series' own, shared), values, and sample times if asked.
    """
    labels: list[dict[str, str]] = []
    values: list[float] = []
    times: list[float] = []
    add_time = times.append if with_times else _ignore
    start = t - lookback
    for s in series:
        ts = s.ts
        n = len(ts)
        if not n:
            continue
        last = ts[n - 1]
        if last <= t:
            i = n - 1
        else:
            i = bisect_right(ts, t) - 1
            if i < 0:
                continue
            last = ts[i]
        if last < start:
            continue
        v = s.vs[i]
        if v != v:
            continue
        labels.append(s.labels)
        values.append(v)
        add_time(last)
    return labels, values, times if with_times else None


_TS = attrgetter("ts")
_VS = attrgetter("vs")
_LAST = itemgetter(-1)


def newest_samples(
    tss: list[array], vss: list[array], t: float, lookback: float
) -> tuple[list[float], list[float]] | None:
    """``instant_samples`` in C-level passes over the series' arrays, for the usual case: every
    series' newest sample lies in ``[t - lookback, t]`` and none is a stale marker. Returns
    (values, times), or None when that is not so (or unknown) and the series must be looked at
    one by one."""
    if not tss:
        return None
    times: list[float] = []
    values: list[float] = []
    # A chunk at a time, so that the arrays a chunk reads are still in the CPU's cache when its
    # values are read after its times.
    for i in range(0, len(tss), _CHUNK):
        try:
            times += map(_LAST, tss[i:i + _CHUNK])
        except IndexError:  # a series without samples
            return None
        values += map(_LAST, vss[i:i + _CHUNK])
    if max(times) > t or min(times) < t - lookback:
        return None
    total = sum(values)
    if total != total:  # a stale marker among them (or Inf - Inf)
        return None
    return values, times


_CHUNK = 512


def _ignore(_: float) -> None:
    return None


_isnan = math.isnan


def range_samples(s: Series, start: float, end: float) -> tuple[array, array]:
    """The series' samples in ``[start, end]`` with stale markers left out."""
    ts = s.ts
    n = len(ts)
    hi = n if n and ts[n - 1] <= end else bisect_right(ts, end)
    lo = bisect_left(ts, start, 0, hi)
    if lo >= hi:
        return array("d"), array("d")
    tss = ts[lo:hi]
    vss = s.vs[lo:hi]
    total = sum(vss)  # NaN if a stale marker is among them (or Inf - Inf): a cheap first test
    if total != total and any(map(_isnan, vss)):
        keep = [v == v for v in vss]
        tss = array("d", (x for x, k in zip(tss, keep, strict=True) if k))
        vss = array("d", (x for x, k in zip(vss, keep, strict=True) if k))
    return tss, vss
