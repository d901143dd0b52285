"""The recent window: every series' recent samples, in memory, for rule evaluation.

Series are keyed by their full label set (``__name__`` included) and indexed by
metric name and by host, so that a selector looks at one name's series and a
host that stops reporting can be marked stale in one step.

Staleness follows Prometheus: a series that a host's report no longer carries,
or every series of a host declared down, gets a stale marker at that time, and
an instant selector ignores a series whose newest sample before the evaluation
time is a stale marker. JSON cannot carry NaN, so ingest never stores one and a
NaN in the window always means "stale".

Readers that derive something from a set of series (a selection, its label lists) keep it while
``generation(name)`` stays the same: it changes whenever a series of that name is added or
dropped, and a number one window gives never comes from another.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import count
from operator import itemgetter
from sys import intern

STALE = math.nan

LabelKey = tuple[tuple[str, str], ...]


def is_stale(value: float) -> bool:
    return value != value  # NaN is the only float unequal to itself


Shape = tuple[str, tuple[tuple[str, str], ...]]

# One interned copy of each (name, sample labels) shape and of each label pair: a fleet repeats
# the same few hundred shapes on every host, so a new host's series share their strings and
# pairs instead of allocating their own (fewer objects also means fewer garbage collections).
# Bounded, since shapes come from the network.
_SHAPES: dict[Shape, Shape] = {}
_PAIRS: dict[tuple[str, str], tuple[str, str]] = {}
_SHAPE_LABELS: dict[Shape, dict[str, str]] = {}
_CACHE_LIMIT = 200_000

# Generations of the windows' series sets, from one counter for every window of the process, so
# that a generation seen in one window never turns up in another (see RecentWindow.generation).
_GENERATIONS = count(1)


def _pair(k: str, v: str) -> tuple[str, str]:
    pair = (k, v)
    got = _PAIRS.get(pair)
    if got is None:
        got = (intern(k), intern(v))
        if len(_PAIRS) < _CACHE_LIMIT:
            _PAIRS[got] = got
    return got


# For readers that keep label pairs of their own (the PromQL engine's matching signatures): the
# window's shared copy of a pair, so that a fleet's pairs are not held once per reader and series.
shared_pair = _pair


def _shape_labels(shape: Shape) -> dict[str, str]:
    """The shared dict of an interned shape's sample labels (compared, never changed)."""
    got = _SHAPE_LABELS.get(shape)
    if got is None:
        got = dict(shape[1])
        if len(_SHAPE_LABELS) < _CACHE_LIMIT:
            _SHAPE_LABELS[shape] = got
    return got


# Per (shape, overriding label names): the shared shape, its pairs that stay, the "__name__"
# pair, and what puts a series' pairs (those kept, then the overriding ones, then the name) in
# sorted order. Label names are unique within a series, so that order depends on the names
# alone: a new host's series are put together from its own pairs without sorting.
_Template = tuple[Shape, tuple[tuple[str, str], ...], tuple[tuple[str, str]], Callable[[tuple], LabelKey]]
_TEMPLATES: dict[tuple[Shape, tuple[str, ...]], _Template] = {}


def _template(ck: Shape, over: tuple[str, ...]) -> _Template:
    got = _TEMPLATES.get((ck, over))
    if got is None:
        shape = _shape(ck)
        name, pairs = shape
        kept = tuple([p for p in pairs if p[0] not in over])
        names = [p[0] for p in kept] + list(over) + ["__name__"]
        order = sorted(range(len(names)), key=names.__getitem__)
        got = (shape, kept, (_pair("__name__", name),), itemgetter(*order) if len(order) > 1 else tuple)
        if len(_TEMPLATES) < _CACHE_LIMIT:
            _TEMPLATES[(shape, over)] = got
    return got


def _shape(ck: Shape) -> Shape:
    """The shared, interned copy of ``(name, label items)``."""
    got = _SHAPES.get(ck)
    if got is None:
        got = (intern(ck[0]), tuple([_pair(k, v) for k, v in ck[1]]))
        if len(_SHAPES) < _CACHE_LIMIT:
            _SHAPES[got] = got
    return got


class Series:
    """One series: its labels and its samples in time order.

    ``ts`` and ``vs`` are the series' arrays for its whole life: samples are appended to them and
    trimmed from them in place, the arrays are never replaced, so readers may keep them.
    """

    __slots__ = ("bare", "ck", "gen", "host", "key", "labels", "marks", "ts", "vs")

    def __init__(self, labels: dict[str, str], key: LabelKey, host: str) -> None:
        self.labels = labels
        self.key = key
        self.host = host
        self.ts = array("d")
        self.vs = array("d")
        self.gen = 0
        self.ck: tuple[str, tuple[tuple[str, str], ...]] = ("", ())
        # Scratch for readers (the PromQL engine's reset and stale-marker scan, and its labels
        # without the metric name, shared by every function that drops it): never read here.
        self.marks: array | None = None
        self.bare: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.labels["__name__"]

    def append(self, ts: float, value: float) -> bool:
        """Add a sample; an out-of-order or duplicate timestamp is refused, as Prometheus does."""
        if self.ts and ts <= self.ts[-1]:
            return False
        self.ts.append(ts)
        self.vs.append(value)
        return True

    def range(self, start: float, end: float) -> tuple[array, array]:
        """Samples with start < t <= end (Prometheus' left-open range), stale markers included."""
        lo = bisect_right(self.ts, start)
        hi = bisect_right(self.ts, end)
        return self.ts[lo:hi], self.vs[lo:hi]

    def at(self, t: float, lookback: float) -> tuple[float, float] | None:
        """The newest sample in (t - lookback, t], or None if there is none or it is a stale marker."""
        hi = bisect_right(self.ts, t)
        if hi == 0:
            return None
        st = self.ts[hi - 1]
        if st <= t - lookback:
            return None
        v = self.vs[hi - 1]
        if is_stale(v):
            return None
        return st, v


class RecentWindow:
    """Every series' samples for the last ``retention`` seconds, and further back for the metric
    names given a longer ``depth`` (those the rules read over longer ranges).

    A fleet reports dozens of series a host, and the rules read most of them over minutes: a
    window as deep as the longest rule range for every series would hold hours of samples of
    series no rule looks back on (at 15 s, 1,441 samples a series for 6 h).
    """

    def __init__(self, retention: float = 3600.0) -> None:
        self.retention = retention
        # Per metric name, how far back it is kept when that is longer than the retention.
        self._depths: dict[str, float] = {}
        # Per metric name, a time none of its samples was older than at its last trim walk.
        self._floors: dict[str, float] = {}
        # Metric names kept deeper since ``fit`` last changed the depths, with how deep they were
        # kept before: their older samples are missing until someone grafts them (see graft).
        # A reload fits from a worker thread while the loop takes them: under a lock.
        self._deepened: dict[str, float] = {}
        self._deepened_lock = threading.Lock()
        self._by_name: dict[str, dict[LabelKey, Series]] = {}
        self._by_host: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Series]] = {}
        self._derived: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Series]] = {}
        self._gen = 0
        # Per metric name, the generation of its set of series: a fresh number whenever a series
        # of that name is added or dropped (see generation()).
        self._gens: dict[str, int] = {}
        self._structure = next(_GENERATIONS)
        # Per host: the names and labels of its last report's samples in order, and their
        # series; forgotten whenever one of the host's series may have been dropped.
        self._order: dict[str, tuple[list[str], list[dict[str, str]], list[Series]]] = {}
        # No sample appended since the last whole trim walk is older than this.
        self._floor = math.inf

    # -- writing ---------------------------------------------------------------------------
    def append_report(
        self,
        host: str,
        base_labels: Mapping[str, str],
        ts: float,
        samples: Iterable[tuple[str, Mapping[str, str], float]],
    ) -> int:
        """Add one report's samples for ``host``; ``base_labels`` (host, customer) override the sample's.

        Series of the host that this report does not carry get a stale marker at ``ts``.
        Returns the number of samples stored.
        """
        if not isinstance(samples, list):
            samples = list(samples)
        if ts < self._floor:
            self._floor = ts
        names = [s[0] for s in samples]
        labels = [s[1] for s in samples]
        last = self._order.get(host)
        if last is not None and last[0] == names and last[1] == labels:
            # The same series in the same order as the host's previous report (the usual case):
            # each sample goes straight to its series. Nothing to mark stale: any series the
            # host no longer sends got its marker when it first went missing.
            stored = 0
            for series, sample in zip(last[2], samples):  # noqa: B905 (same length: compared)
                sts = series.ts
                if not sts or ts > sts[-1]:
                    sts.append(ts)
                    series.vs.append(sample[2])
                    stored += 1
            return stored
        cks = [(name, tuple(lab.items())) for name, lab in zip(names, labels)]  # noqa: B905
        self._gen += 1
        gen = self._gen
        cache = self._by_host.setdefault(host, {})
        stored = 0
        touched = 0
        base: tuple[tuple[str, str], ...] | None = None
        over: tuple[str, ...] = ()
        order: list[Series] = []
        for ck, (_, _, value) in zip(cks, samples):  # noqa: B905 (built from samples)
            series = cache.get(ck)
            if series is None:
                if base is None:
                    base = tuple([_pair(k, v) for k, v in base_labels.items()])
                    over = tuple(base_labels)
                series = self._create(host, ck, base, over)
                cache[series.ck] = series
            order.append(series)
            if series.gen != gen:
                series.gen = gen
                touched += 1
            # Series.append inlined: this loop runs for every sample ingested.
            sts = series.ts
            if not sts or ts > sts[-1]:
                sts.append(ts)
                series.vs.append(value)
                stored += 1
        if touched != len(cache):
            for series in cache.values():
                if series.gen != gen:
                    series.gen = gen
                    series.append(ts, STALE)
        # The shapes' shared names and label dicts, not the report's own: remembering costs lists.
        self._order[host] = ([s.ck[0] for s in order], [_shape_labels(s.ck) for s in order], order)
        return stored

    def append(self, host: str, name: str, labels: Mapping[str, str], ts: float, value: float) -> bool:
        """Add a single sample of a series the collector itself derives (``up``, check states).

        Derived series are kept apart from the reported ones, so a report that does not
        carry them does not mark them stale (``up`` is written at the collector's time,
        which may be earlier than a report's own time on a host whose clock runs ahead).
        """
        if ts < self._floor:
            self._floor = ts
        cache = self._derived.setdefault(host, {})
        ck = (name, tuple(labels.items()))
        series = cache.get(ck)
        if series is None:
            series = self._create(host, ck, (), ())
            cache[series.ck] = series
        return series.append(ts, value)

    def mark_host_stale(self, host: str, ts: float, *, keep: Iterable[str] = ("up",)) -> None:
        """A host declared down: every series of it but ``keep`` ends at ``ts``."""
        kept = set(keep)
        for cache in (self._by_host.get(host, {}), self._derived.get(host, {})):
            for (name, _), series in cache.items():
                if name not in kept:
                    series.append(ts, STALE)

    def _create(
        self, host: str, ck: Shape, base: tuple[tuple[str, str], ...], over: tuple[str, ...]
    ) -> Series:
        """The series of ``ck`` (name, sample label pairs) with ``base`` pairs (label names
        ``over``, in that order) overriding, found by its full label set or made; every pair and
        string comes from the shared caches."""
        shape, kept, tail, arrange = _template(ck, over)
        name = shape[0]
        pairs = kept + base + tail
        key: LabelKey = arrange(pairs)
        by_key = self._by_name.get(name)
        if by_key is None:
            by_key = self._by_name[name] = {}
        series = by_key.get(key)
        if series is None:
            series = Series(dict(pairs), key, host)  # "__name__" last, after the host's own
            by_key[key] = series
            self._changed(name)
        series.ck = shape
        return series

    # -- depth -----------------------------------------------------------------------------
    def keep(self, depths: Mapping[str, float]) -> None:
        """Keep the named metrics this far back (seconds) where that is longer than the
        retention; the names not given keep the retention. Replaces the previous depths."""
        self._depths = {intern(name): float(d) for name, d in depths.items() if d > self.retention}

    def fit(self, reaches: Mapping[str | None, float], *, floor: float, margin: float) -> None:
        """Keep each metric ``margin`` further back than ``reaches`` gives it (how far back its
        readers look; under None, readers of any series), and every series at least ``floor``.

        The metrics held that are now kept deeper than before are noted (``take_deepened``).
        """
        # A copy of the names first: a reload fits from a worker thread while the loop appends.
        before = {name: self.depth(name) for name in list(self._by_name)}
        self.retention = max(floor, reaches.get(None, -margin) + margin)
        self.keep({name: far + margin for name, far in reaches.items() if name is not None})
        grown = {name: was for name, was in before.items() if self.depth(name) > was}
        with self._deepened_lock:
            for name, was in grown.items():
                self._deepened[name] = min(was, self._deepened.get(name, was))

    def take_deepened(self) -> dict[str, float]:
        """The metrics kept deeper since the last call, each with the depth it had before."""
        with self._deepened_lock:
            got, self._deepened = self._deepened, {}
        return got

    def graft(self, older: RecentWindow) -> int:
        """Put the samples of ``older`` (the same series' history, read back from elsewhere) before
        the first sample each series holds here; returns the series that got some.

        A series that gets older samples is replaced by a new one, as if it had just appeared:
        readers keep per-series state built from appends only (see promql/scan.py).
        """
        grafted = 0
        for name, their in older._by_name.items():
            ours = self._by_name.get(name)
            if not ours:
                continue
            changed = False
            for key, past in their.items():
                series = ours.get(key)
                if series is None or not series.ts or not past.ts:
                    continue
                cut = bisect_left(past.ts, series.ts[0])
                if not cut:
                    continue
                fresh = Series(series.labels, series.key, series.host)
                fresh.ts = past.ts[:cut] + series.ts
                fresh.vs = past.vs[:cut] + series.vs
                fresh.ck, fresh.gen = series.ck, series.gen
                ours[key] = fresh
                host_cache = self._host_cache(series)
                if host_cache is not None:
                    host_cache[series.ck] = fresh
                self._order.pop(series.host, None)
                self._floor = min(self._floor, fresh.ts[0])
                grafted += 1
                changed = True
            if changed:
                self._changed(name)
        return grafted

    def depth(self, name: str) -> float:
        """How far back the samples of ``name`` are kept."""
        return max(self.retention, self._depths.get(name, 0.0))

    def kept_since(self, now: float) -> tuple[float, dict[str, float]]:
        """At ``now``: the time every metric is kept back to, and for the metrics kept further
        back, the time each is kept back to."""
        return now - self.retention, {name: now - far for name, far in self._depths.items()}

    @property
    def deepest(self) -> float:
        """How far back any sample is kept: what a rebuild reads back."""
        return max(self.retention, *self._depths.values()) if self._depths else self.retention

    def trim(self, now: float) -> None:
        """Forget samples older than their name's depth, and series left with none."""
        for _ in self.trim_steps(now):
            pass

    def trim_steps(self, now: float, *, slack: float = 0.0, step: int = 20_000) -> Iterator[None]:
        """``trim`` in steps of about ``step`` series, for a caller that lets other work run
        between them (appends, evaluations: a fleet's window has millions of series).

        Walks no name none of whose samples is older than its depth plus ``slack``: a periodic
        caller passes a slack so that it walks a name now and then, not on every call.
        """
        # Samples appended from here on may be older than the floors this walk sets: they lower
        # the appended floor again, and a walk cut short puts the old one back.
        low, self._floor = self._floor, math.inf
        done = False
        try:
            walked = 0
            for name, by_key in list(self._by_name.items()):
                before = now - self.depth(name)
                floor = min(self._floors.get(name, math.inf), low)
                if before - slack <= floor:
                    self._floors[name] = floor
                    continue
                # Each name's series in slices of `step`, Series.trim inlined: at fleet scale a
                # walk visits millions of series, once a minute for the names kept briefly.
                held = list(by_key.values())
                for at in range(0, len(held), step):
                    emptied = []
                    for series in held[at:at + step]:
                        ts = series.ts
                        cut = bisect_left(ts, before)
                        if cut:
                            del ts[:cut]
                            del series.vs[:cut]
                            if not ts:
                                emptied.append(series)
                    for series in emptied:
                        if not series.ts and by_key.get(series.key) is series:
                            self._drop(name, by_key, series)
                    walked += min(step, len(held) - at)
                    if walked >= step:
                        walked = 0
                        yield
                self._floors[name] = before
                if not by_key and self._by_name.get(name) is by_key:
                    del self._by_name[name]
                    self._gens.pop(name, None)
                    self._floors.pop(name, None)
            done = True
        finally:
            if not done:
                self._floor = min(self._floor, low)

    def _drop(self, name: str, by_key: dict[LabelKey, Series], series: Series) -> None:
        """Forget a series left without samples."""
        del by_key[series.key]
        self._changed(name)
        self._order.pop(series.host, None)
        host_cache = self._host_cache(series)
        if host_cache is not None:
            del host_cache[series.ck]

    def _host_cache(self, series: Series) -> dict[Shape, Series] | None:
        """The per-host lookup (reported or derived series) that holds ``series``, if any."""
        for caches in (self._by_host, self._derived):
            host_cache = caches.get(series.host)
            if host_cache is not None and host_cache.get(series.ck) is series:
                return host_cache
        return None

    def drop_host(self, host: str) -> None:
        self._order.pop(host, None)
        for caches in (self._by_host, self._derived):
            for series in caches.pop(host, {}).values():
                by_key = self._by_name.get(series.name)
                if by_key is not None and by_key.pop(series.key, None) is not None:
                    self._changed(series.name)

    def _changed(self, name: str) -> None:
        self._structure = self._gens[name] = next(_GENERATIONS)

    # -- reading ---------------------------------------------------------------------------
    def generation(self, name: str | None = None) -> int:
        """A number that changes whenever the series named ``name`` (any series, for None) are
        added or dropped, and that no other window of the process ever gives: readers keep what
        they derived from a set of series for as long as its generation stays the same."""
        if name is None:
            return self._structure
        return self._gens.get(name, 0)

    def series_named(self, name: str) -> Iterable[Series]:
        return self._by_name.get(name, {}).values()

    def names(self) -> Iterable[str]:
        return self._by_name.keys()

    def all_series(self) -> Iterator[Series]:
        for by_key in self._by_name.values():
            yield from by_key.values()

    def hosts(self) -> Iterable[str]:
        return self._by_host.keys() | self._derived.keys()

    def census(self) -> list[tuple[str, int, float]]:
        """Per metric name held: its series, and how far back its samples are kept."""
        return [(name, len(by_key), self.depth(name)) for name, by_key in list(self._by_name.items())]

    def series_count(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def sample_count(self) -> int:
        return sum(len(s.ts) for s in self.all_series())
