"""Folding a host's reports into 5-minute rollups: per series min, max, sum, count and last value.

Pure: the store reads the reports and keeps the result (collector/store/reportlog.py).
An aggregate is ``[min, max, sum, count, last, last_ts]``. Two aggregates of one series and
bucket merge into one (``merge``), the later one's last value winning on equal times, so a
bucket folded in parts (a late spool replay, a run that ends in a bucket's middle) ends as if
it had been folded whole, in log order.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

STEP = 300

Agg = list[float]
# (metric name, sample labels as sorted JSON)
SeriesKey = tuple[str, str]

_LABEL_KEYS: dict[tuple[tuple[str, str], ...], str] = {}
_LABEL_KEYS_LIMIT = 200_000


def labels_key(labels: dict[str, str]) -> str:
    """The rollups' text form of a label set (sorted JSON), cached: fleets repeat the same sets."""
    items = tuple(labels.items())
    key = _LABEL_KEYS.get(items)
    if key is None:
        key = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()
        if len(_LABEL_KEYS) < _LABEL_KEYS_LIMIT:
            _LABEL_KEYS[items] = key
    return key


def bucket_of(ts: float) -> int:
    return int(ts // STEP * STEP)


def merge(into: Agg, other: Agg) -> None:
    """Fold ``other`` (folded after ``into``) into ``into``."""
    if other[0] < into[0]:
        into[0] = other[0]
    if other[1] > into[1]:
        into[1] = other[1]
    into[2] += other[2]
    into[3] += other[3]
    if other[5] >= into[5]:
        into[4], into[5] = other[4], other[5]


class _Run:
    """Consecutive reports of one bucket and one shape (the same series in the same order)."""

    __slots__ = ("bucket", "labels", "names", "times", "values")

    def __init__(self, bucket: int, names: list[str], labels: list[dict[str, str]]) -> None:
        self.bucket = bucket
        self.names = names
        self.labels = labels
        self.times: list[float] = []
        self.values = array("d")


def fold(reports: Iterable[tuple[float, Sequence[Sequence[Any]]]]) -> dict[int, dict[SeriesKey, Agg]]:
    """Aggregates per bucket and series of reports ``(ts, samples)`` in log order, each sample
    ``(name, labels, value)``.

    A host sends the same series in the same order report after report, so consecutive reports
    of one shape are folded column-wise: their values go into one array, and each series'
    aggregates come from one strided slice of it (min, max and sum run in C, not per sample).
    """
    runs: list[_Run] = []
    run: _Run | None = None
    for ts, samples in reports:
        bucket = bucket_of(ts)
        names = [s[0] for s in samples]
        labels = [s[1] for s in samples]
        if run is None or run.bucket != bucket or run.names != names or run.labels != labels:
            run = _Run(bucket, names, labels)
            runs.append(run)
        run.times.append(ts)
        run.values.extend([s[2] for s in samples])
    out: dict[int, dict[SeriesKey, Agg]] = {}
    for run in runs:
        aggs = out.setdefault(run.bucket, {})
        n = len(run.names)
        if not n:
            continue
        # The last value is the newest sample's; of equal times, the later report's.
        times = run.times
        newest = 0
        for k in range(1, len(times)):
            if times[k] >= times[newest]:
                newest = k
        last_ts = times[newest]
        values = run.values
        for i, name in enumerate(run.names):
            col = values[i::n]
            agg: Agg = [min(col), max(col), sum(col), len(col), col[newest], last_ts]
            key = (name, labels_key(run.labels[i]))
            have = aggs.get(key)
            if have is None:
                aggs[key] = agg
            else:
                merge(have, agg)
    return out
