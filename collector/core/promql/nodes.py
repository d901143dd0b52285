"""The evaluation tree: one node per PromQL construct, each evaluated at one instant.

Instant vectors travel between nodes as columns (a list of label dicts, a list of values), so
that arithmetic and filters run as C-level ``map``/``compress`` loops rather than per-sample
Python code. Label dicts are shared and never changed once built: a node that derives new
labels memoizes them per input dict (``LabelMap``), so the same series gets the same derived
dict on every evaluation and the next node's memo hits too.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from collector.core.promql.model import EvaluationError, label_key
from collector.core.promql.selectors import (
    SeriesSelector,
    instant_samples,
    newest_samples,
    range_samples,
)
from collector.core.window import RecentWindow, Series

Labels = dict[str, str]


class Vector:
    """An instant vector in columns; ``ts`` holds sample times for a selector's own samples."""

    __slots__ = ("labels", "ts", "values")

    def __init__(self, labels: list[Labels], values: list[float], ts: list[float] | None = None) -> None:
        self.labels = labels
        self.values = values
        self.ts = ts

    def __len__(self) -> int:
        return len(self.values)

    def __bool__(self) -> bool:
        return bool(self.values)


EMPTY = Vector([], [])
Value = Vector | float | str


class Context:
    """One evaluation: the window, the instant ``t`` (seconds), the lookback, and a memo of results.

    The memo holds each subexpression's value by its canonical text, so an expression that
    repeats a subexpression (or several rules sharing one cache) computes it once.
    """

    __slots__ = ("lookback", "memo", "t", "window")

    def __init__(self, window: RecentWindow, t: float, lookback: float, memo: dict[str, Value]) -> None:
        self.window = window
        self.t = t
        self.lookback = lookback
        self.memo = memo


class LabelMap:
    """A label transformation memoized by the identity of its input dict.

    ``many`` returns the very list it returned last time when given the same dicts again (the
    common case from one evaluation to the next), so consumers can memoize on that list too. It
    remembers its last two inputs: a binary operator maps both its sides through one LabelMap.
    """

    __slots__ = ("fn", "held", "last_in", "last_out", "memo", "prev_in", "prev_out")

    def __init__(self, fn: Callable[[Labels], Any]) -> None:
        self.fn = fn
        # By id of the input dict: the dict (held, so that its id is not reused) and its result.
        # Two dicts rather than one of pairs: no object per entry for the garbage collector.
        self.held: dict[int, Labels] = {}
        self.memo: dict[int, Any] = {}
        self.last_in: list[Labels] = []
        self.last_out: list[Any] = []
        self.prev_in: list[Labels] = []
        self.prev_out: list[Any] = []

    def many(self, labels: list[Labels]) -> list[Any]:
        # List equality checks identity first, element by element, in C: cheap when nothing changed.
        if labels is self.last_in or labels == self.last_in:
            return self.last_out
        if labels is self.prev_in or labels == self.prev_in:
            out = self.prev_out
        else:
            out = self._many(labels)
        self.prev_in, self.prev_out = self.last_in, self.last_out
        self.last_in, self.last_out = labels, out
        return out

    def _many(self, labels: list[Labels]) -> list[Any]:
        memo, held = self.memo, self.held
        if len(memo) > 4 * len(labels) + 50_000:
            memo.clear()  # series come and go: forget what no longer turns up
            held.clear()
        fn = self.fn
        ids = list(map(id, labels))
        if memo:
            if list(map(held.get, ids)) == labels:
                return list(map(memo.__getitem__, ids))  # every one seen before
            out = []
            append = out.append
            for lb, i in zip(labels, ids, strict=True):
                if held.get(i) is lb:
                    append(memo[i])
                else:
                    r = fn(lb)
                    held[i] = lb
                    memo[i] = r
                    append(r)
            return out
        # Nothing to look up (the first evaluation): map, then remember, in C-level passes.
        out = list(map(fn, labels))
        held.update(zip(ids, labels, strict=True))
        memo.update(zip(ids, out, strict=True))
        return out


class Node:
    """An expression node; ``kind`` is "vector", "scalar", "string" or "matrix".

    ``one_name`` promises that every sample of the node's vectors has the same ``__name__``
    (or none), so dropping the name cannot merge two of them.
    """

    kind = "vector"
    one_name = True
    text = ""  # canonical text; set by the compiler on nodes worth memoizing

    def eval(self, ctx: Context) -> Value:
        text = self.text
        if not text:
            return self.compute(ctx)
        hit = ctx.memo.get(text)
        if hit is None:
            hit = self.compute(ctx)
            ctx.memo[text] = hit
        return hit

    def compute(self, ctx: Context) -> Value:
        raise NotImplementedError

    def vector(self, ctx: Context) -> Vector:
        v = self.eval(ctx)
        assert isinstance(v, Vector)
        return v

    def scalar(self, ctx: Context) -> float:
        v = self.eval(ctx)
        assert isinstance(v, float)
        return v

    def children(self) -> tuple[Node, ...]:
        return ()

    def reach(self, lookback: float) -> float:
        """How far before the evaluation time this node reads samples."""
        return max((c.reach(lookback) for c in self.children()), default=0.0)

    def names(self) -> set[str]:
        out: set[str] = set()
        for c in self.children():
            out |= c.names()
        return out

    def reaches(self, lookback: float) -> dict[str | None, float]:
        """``reach`` per metric name the selectors name (None: a selector naming none, which
        may read any series)."""
        return merge_reaches(c.reaches(lookback) for c in self.children())


def merge_reaches(parts: Iterable[Mapping[str | None, float]]) -> dict[str | None, float]:
    """The longest reach per metric name over ``parts`` (each as ``Node.reaches`` gives it)."""
    out: dict[str | None, float] = {}
    for part in parts:
        for name, far in part.items():
            if far > out.get(name, -1.0):
                out[name] = far
    return out


class Number(Node):
    kind = "scalar"

    def __init__(self, value: float) -> None:
        self.value = value

    def compute(self, ctx: Context) -> float:
        return self.value


class String(Node):
    kind = "string"

    def __init__(self, value: str) -> None:
        self.value = value

    def compute(self, ctx: Context) -> str:
        return self.value


class VectorSelector(Node):
    def __init__(self, selector: SeriesSelector, offset: float) -> None:
        self.selector = selector
        self.offset = offset
        self.one_name = selector.name is not None
        self.with_times = False  # set for timestamp()'s argument, which needs the sample times
        self._labels_of: list[Series] = []
        self._labels: list[Labels] = []

    def compute(self, ctx: Context) -> Vector:
        series, tss, vss = self.selector.arrays(ctx.window)
        at = ctx.t - self.offset
        newest = newest_samples(tss, vss, at, ctx.lookback)
        if newest is not None:
            # Every series has a sample: the labels are the selection's, the same list as last
            # time while the selection is (so the next node's memo on that list hits as well).
            if series is not self._labels_of:
                self._labels_of, self._labels = series, [s.labels for s in series]
            values, ts = newest
            return Vector(self._labels, values, ts if self.with_times else None)
        labels, values, ts = instant_samples(series, at, ctx.lookback, with_times=self.with_times)
        return Vector(labels, values, ts)

    def reach(self, lookback: float) -> float:
        return self.offset + lookback

    def names(self) -> set[str]:
        return {self.selector.name} if self.selector.name else set()

    def reaches(self, lookback: float) -> dict[str | None, float]:
        return {self.selector.name or None: self.reach(lookback)}


class MatrixSelector(Node):
    kind = "matrix"
    ident = ""  # canonical text, naming the range in shared per-evaluation results

    def __init__(self, selector: SeriesSelector, range_s: float, offset: float) -> None:
        self.selector = selector
        self.range = range_s
        self.offset = offset
        self.one_name = selector.name is not None

    def compute(self, ctx: Context) -> Value:
        raise EvaluationError("a range vector cannot be the result of an expression")

    def series(self, ctx: Context) -> list[Series]:
        return self.selector.select(ctx.window)

    def series_ranges(self, ctx: Context) -> Iterator[tuple[Series, array, array]]:
        """Each matching series with its non-stale samples in the range (possibly none)."""
        end = ctx.t - self.offset
        start = end - self.range
        for s in self.selector.select(ctx.window):
            ts, vs = range_samples(s, start, end)
            yield s, ts, vs

    def reach(self, lookback: float) -> float:
        return self.offset + self.range

    def names(self) -> set[str]:
        return {self.selector.name} if self.selector.name else set()

    def reaches(self, lookback: float) -> dict[str | None, float]:
        return {self.selector.name or None: self.reach(lookback)}


def _drop_name(labels: Labels) -> Labels:
    if "__name__" not in labels:
        return labels
    out = dict(labels)
    del out["__name__"]
    return out


def bare_labels(s: Series) -> Labels:
    """The series' labels without ``__name__``: one dict per series, kept on it, whichever
    function drops the name (many rules read the same series through rate() and the like)."""
    bare = s.bare
    if bare is None:
        bare = s.bare = _drop_name(s.labels)
    return bare


def name_dropper() -> LabelMap:
    return LabelMap(_drop_name)


def check_unique(vec: Vector) -> Vector:
    """Refuse a vector that holds one label set twice, as Prometheus does."""
    if len({label_key(lb) for lb in vec.labels}) != len(vec.labels):
        raise EvaluationError("vector cannot contain metrics with the same labelset")
    return vec


def renamed(node: Node, before: Vector, after: Vector) -> Vector:
    """``after`` is ``before`` with ``__name__`` dropped: check it only if that could merge two series."""
    if node.one_name or len({lb.get("__name__") for lb in before.labels}) <= 1:
        return after
    return check_unique(after)


class Negate(Node):
    def __init__(self, expr: Node) -> None:
        self.expr = expr
        self.kind = expr.kind
        self.one_name = expr.one_name
        self.drop = name_dropper()

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Value:
        v = self.expr.eval(ctx)
        if isinstance(v, float):
            return -v
        assert isinstance(v, Vector)
        out = Vector(self.drop.many(v.labels), [-x for x in v.values])
        return renamed(self.expr, v, out)


class Paren(Node):
    def __init__(self, expr: Node) -> None:
        self.expr = expr
        self.kind = expr.kind
        self.one_name = expr.one_name

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Value:
        return self.expr.eval(ctx)
