"""Per-series marks that let range functions skip scanning for stale markers and counter resets.

The window only ever appends samples to a series (and trims old ones), so one pass over the samples
that arrived since the previous evaluation keeps, per series, the time of its newest stale marker,
of its newest counter reset (a value below the previous non-stale value) and of its newest change
of value. A range that starts at or after the first two holds no stale marker and no reset, so
rate() and friends need only its first and last samples; one that also starts at or after the
last holds one value only (changes() is 0, min and max are that value). The marks live in
``Series.marks`` (five floats in an array), which the window leaves to its readers.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_right

from collector.core.window import Series

_NEVER = float("-inf")
_FRESH = (_NEVER,) * 5

# Indices into a series' marks.
CHECKED = 0  # time of the newest sample scanned
PREVIOUS = 1  # the newest non-stale value scanned (-inf before the first)
RESET = 2  # time of the newest sample below the non-stale value before it (-inf: none)
STALE = 3  # time of the newest stale marker (-inf: none)
CHANGED = 4  # time of the newest non-stale value unlike the non-stale value before it (or the first)


def marks(s: Series) -> array:
    """The series' marks, brought up to its newest sample; the series must hold one or more."""
    ts = s.ts
    n = len(ts)
    newest = ts[n - 1]
    m = s.marks
    if m is not None and m[CHECKED] <= newest:
        checked = m[CHECKED]
        if checked == newest:
            return m
        if n > 1 and ts[n - 2] == checked:
            # One sample since the last look: the usual case from one evaluation to the next.
            v = s.vs[n - 1]
            if v != v:
                m[STALE] = newest
            elif v != m[PREVIOUS]:
                if v < m[PREVIOUS]:
                    m[RESET] = newest
                m[CHANGED] = newest
                m[PREVIOUS] = v
            m[CHECKED] = newest
            return m
        i = bisect_right(ts, checked)
    else:
        m = array("d", _FRESH)
        s.marks = m
        i = 0
    vs = s.vs
    new = vs[i:n].tolist()
    prev = m[PREVIOUS]
    total = sum(new)
    if total == total:
        # No stale marker among the new samples (the usual case): compare each with the one
        # before it in C-level passes over the list, and find the newest change and reset.
        before = [prev, *new[:-1]]
        last = len(new) - 1
        changed = last if new[last] != before[last] else bytes(map(operator.ne, new, before)).rfind(1)
        if changed >= 0:
            m[CHANGED] = ts[i + changed]
            if new[0] < prev or new != sorted(new):
                m[RESET] = ts[i + bytes(map(operator.lt, new, before)).rfind(1)]
            m[PREVIOUS] = new[last]
        m[CHECKED] = newest
        return m
    reset, stale, changed = m[RESET], m[STALE], m[CHANGED]
    for j in range(i, n):
        v = vs[j]
        if v != v:
            stale = ts[j]
        elif v != prev:
            if v < prev:
                reset = ts[j]
            changed = ts[j]
            prev = v
    m[CHECKED], m[PREVIOUS], m[RESET], m[STALE], m[CHANGED] = newest, prev, reset, stale, changed
    return m
