"""The evaluation tree: one node per PromQL construct, each evaluated at one instant."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from collector.core.promql.model import EvaluationError, InstantVector, Sample, label_key
from collector.core.promql.selectors import SeriesSelector, instant_samples, range_samples
from collector.core.window import RecentWindow, Series

Value = InstantVector | float | str


@dataclass(frozen=True)
class Context:
    """One evaluation: the window, the instant ``t`` (seconds) and the lookback for instant selectors."""

    window: RecentWindow
    t: float
    lookback: float


class Node:
    """An expression node; ``kind`` is "vector", "scalar", "string" or "matrix"."""

    kind = "vector"

    def eval(self, ctx: Context) -> Value:
        raise NotImplementedError

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


class Number(Node):
    kind = "scalar"

    def __init__(self, value: float) -> None:
        self.value = value

    def eval(self, ctx: Context) -> float:
        return self.value


class String(Node):
    kind = "string"

    def __init__(self, value: str) -> None:
        self.value = value

    def eval(self, ctx: Context) -> str:
        return self.value


class VectorSelector(Node):
    def __init__(self, selector: SeriesSelector, offset: float) -> None:
        self.selector = selector
        self.offset = offset

    def eval(self, ctx: Context) -> InstantVector:
        return instant_samples(self.selector.select(ctx.window), ctx.t - self.offset, ctx.lookback)

    def reach(self, lookback: float) -> float:
        return self.offset + lookback

    def names(self) -> set[str]:
        return {self.selector.name} if self.selector.name else set()


class MatrixSelector(Node):
    kind = "matrix"

    def __init__(self, selector: SeriesSelector, range_s: float, offset: float) -> None:
        self.selector = selector
        self.range = range_s
        self.offset = offset

    def eval(self, ctx: Context) -> Value:
        raise EvaluationError("a range vector cannot be the result of an expression")

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


def drop_name(labels: dict[str, str]) -> dict[str, str]:
    if "__name__" not in labels:
        return labels
    out = dict(labels)
    del out["__name__"]
    return out


def one_name(vec: InstantVector) -> bool:
    """Whether all samples carry one ``__name__`` (or none): dropping it then keeps label sets unique."""
    return len({s.labels.get("__name__") for s in vec}) <= 1


def check_unique(vec: InstantVector) -> InstantVector:
    """Refuse a vector that holds one label set twice, as Prometheus does."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    for s in vec:
        k = label_key(s.labels)
        if k in seen:
            raise EvaluationError("vector cannot contain metrics with the same labelset")
        seen.add(k)
    return vec


def renamed(before: InstantVector, after: InstantVector) -> InstantVector:
    """``after`` is ``before`` with ``__name__`` dropped: check it only if that could merge two series."""
    return after if one_name(before) else check_unique(after)


class Negate(Node):
    def __init__(self, expr: Node) -> None:
        self.expr = expr
        self.kind = expr.kind

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def eval(self, ctx: Context) -> Value:
        v = self.expr.eval(ctx)
        if isinstance(v, float):
            return -v
        assert isinstance(v, list)
        out = [Sample(drop_name(s.labels), -s.value, s.key) for s in v]
        return renamed(v, out)


class Paren(Node):
    def __init__(self, expr: Node) -> None:
        self.expr = expr
        self.kind = expr.kind

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def eval(self, ctx: Context) -> Value:
        return self.expr.eval(ctx)
