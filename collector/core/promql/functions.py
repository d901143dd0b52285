"""PromQL function calls: range functions, math on instant vectors, absent, sort, time and dates."""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import itemgetter

from collector.core.promql.floatops import go_max, go_min
from collector.core.promql.model import EvaluationError
from collector.core.promql.nodes import (
    EMPTY,
    Context,
    Labels,
    MatrixSelector,
    Node,
    Vector,
    bare_labels,
    name_dropper,
    renamed,
)
from collector.core.promql.rangefuncs import (
    EXTRAPOLATED,
    RANGE_FUNCTIONS,
    RangeArgs,
    extrapolate,
    fit_line,
    ms,
)
from collector.core.promql.regression import Line, RangeFits
from collector.core.promql.scan import CHANGED, CHECKED, RESET, STALE, marks
from collector.core.promql.selectors import range_samples
from collector.core.window import Series


def _scalars(params: tuple[Node, ...], ctx: Context) -> tuple[float, ...]:
    return tuple(p.scalar(ctx) for p in params)


# Functions whose value over a range of one repeated value is known: True for that value, False for 0.
_FLAT = {"changes": False, "resets": False, "min_over_time": True, "max_over_time": True}


class RangeCall(Node):
    """A function of a range vector, evaluated series by series."""

    def __init__(self, name: str, matrix: MatrixSelector, params: tuple[Node, ...]) -> None:
        self.name = name
        self.fn = RANGE_FUNCTIONS[name][0]
        self.matrix = matrix
        self.params = params
        # Prometheus 2.x keeps the metric name for last_over_time() alone.
        self.keep_name = name == "last_over_time"
        self.one_name = matrix.one_name or not self.keep_name
        self.fits = RangeFits(matrix.range, matrix.offset) if name in ("deriv", "predict_linear") else None
        self._all_labels_of: list[Series] = []
        self._all_labels: list[Labels] = []
        self._all_bare: list[Labels] | None = None  # and without the name, once asked for
        # After an evaluation of rate() and friends: the selection, the range then, and per series
        # the newest sample time where its range was clean, NaN where not (see _extrapolated).
        self._clean: tuple[list[Series], float, float, list[float]] | None = None

    def children(self) -> tuple[Node, ...]:
        return (*self.params, self.matrix)

    def _lines(
        self, ctx: Context, all_series: list[Series], start: float, end: float
    ) -> list[tuple[float, float] | tuple[()] | None]:
        """Per series: the fitted (slope, value now) over a long range, () for too few samples, or
        None where the range is short (fitted exactly instead). Shared by every deriv() and
        predict_linear() of the same range in one evaluation, whatever their selectors."""
        key = f"fits {self.matrix.range!r} {self.matrix.offset!r}"
        hit = ctx.memo.get(key)
        if hit is not None:
            seen, lines = hit  # type: ignore[misc]
            # Another node's selector of the same range returns an equal list (compared by identity, in C).
            if seen is all_series or seen == all_series:
                return lines  # type: ignore[no-any-return]
            # A different selection over the same range: take the series fitted already from there.
            by_id = dict(zip(map(id, seen), lines, strict=True))
            if all(map(by_id.__contains__, map(id, all_series))):
                return list(map(by_id.__getitem__, map(id, all_series)))
        assert self.fits is not None
        _, tss, vss = self.matrix.selector.arrays(ctx.window)
        lines = self.fits.lines(ctx.window, all_series, tss, vss, start, end, ctx.t)
        ctx.memo[key] = (all_series, lines)  # type: ignore[assignment]
        return lines

    def compute(self, ctx: Context) -> Vector:
        m = self.matrix
        eval_ms = ms(ctx.t)
        end_ms = eval_ms - ms(m.offset)
        args = RangeArgs(end_ms - ms(m.range), end_ms, eval_ms, m.range, _scalars(self.params, ctx))
        end = ctx.t - m.offset
        start = end - m.range
        all_series = m.series(ctx)
        if self._all_labels_of is not all_series:
            self._all_labels_of, self._all_labels = all_series, [s.labels for s in all_series]
            self._all_bare = None
        shape = EXTRAPOLATED.get(self.name)
        values: list[float | None]
        if shape is not None:
            _, tss, vss = m.selector.arrays(ctx.window)
            values, missing = self._extrapolated(all_series, tss, vss, start, end, args, *shape)
        elif self.fits is not None:
            lines = self._lines(ctx, all_series, start, end)
            # Short ranges are fitted exactly; in a young window every range of a series holds
            # the same samples, so the round's deriv()/predict_linear() calls share those fits.
            exact = ctx.memo.setdefault(f"exact fits {self.name}", {})  # type: ignore[arg-type]
            values, missing = self._each(all_series, lines, start, end, args, exact)  # type: ignore[arg-type]
        else:
            values, missing = self._each(all_series, None, start, end, args)
        # The labels are the selection's own list when every series has a value (the usual case).
        labels = self._all_labels
        keep = [v is not None for v in values] if missing else None
        if keep is not None:
            labels, values = list(compress(labels, keep)), list(compress(values, keep))
        if self.keep_name:
            return Vector(labels, values)  # type: ignore[arg-type]
        # Without the name: each series' own name-less labels, shared with every other function.
        if keep is not None:
            bare = [bare_labels(s) for s in compress(all_series, keep)]
        else:
            if self._all_bare is None:
                self._all_bare = [bare_labels(s) for s in all_series]
            bare = self._all_bare
        out = Vector(bare, values)  # type: ignore[arg-type]
        return out if m.one_name else renamed(m, Vector(labels, values), out)  # type: ignore[arg-type]

    def _each(
        self, all_series: list[Series], lines: list[tuple[float, float] | tuple[()] | None] | None,
        start: float, end: float, args: RangeArgs, exact: dict[tuple[int, int, int], Line] | None = None,
    ) -> tuple[list[float | None], int]:
        """Each series' value (None for none), from its samples in the range or its long fit; and
        how many have none. ``exact``: the round's exactly fitted lines (see _exact)."""
        if lines is None:
            values = [self._exact(s, start, end, args) for s in all_series]
        else:
            # From the fitted lines alone, without visiting the series (their objects lie all
            # over the heap): those whose range is short are fitted exactly afterwards.
            if self.name == "deriv":
                values = [line[0] if line else None for line in lines]
            else:
                ahead = args.params[0]
                values = [line[0] * ahead + line[1] if line else None for line in lines]
            if None in lines:
                for i, line in enumerate(lines):
                    if line is None:
                        values[i] = self._exact(all_series[i], start, end, args, exact)
        return values, values.count(None)

    def _exact(
        self, s: Series, start: float, end: float, args: RangeArgs,
        fits: dict[tuple[int, int, int], Line] | None = None,
    ) -> float | None:
        """The function over the series' samples in the range; None for none.

        ``fits`` (deriv() and predict_linear()): the round's fitted lines by (series, first and
        end sample index). A line depends on the samples and the evaluation time only, so every
        call of the round over the same samples shares it.
        """
        # range_samples, inlined: this runs for every series of every range in the pack.
        ts = s.ts
        n = len(ts)
        if not n:
            return None
        hi = n if ts[n - 1] <= end else bisect_right(ts, end)
        lo = bisect_left(ts, start, 0, hi)
        if lo >= hi:
            return None
        if fits is not None:
            line = fits.get((id(s), lo, hi))
            if line is not None:
                return self._on_line(line, args)
        mk = s.marks
        if mk is None or mk[CHECKED] != ts[n - 1]:
            mk = marks(s)
        first_t = ts[lo]
        if mk[STALE] < first_t:
            flat = _FLAT.get(self.name)
            if flat is not None and mk[CHANGED] <= first_t:
                # One value throughout the range: changes() and resets() are 0, min and max it.
                return s.vs[lo] if flat else 0.0
            tss, vss = ts[lo:hi], s.vs[lo:hi]
        else:
            tss, vss = range_samples(s, start, end)
            if not vss:
                return None
        if fits is None:
            return self.fn(tss, vss, args)
        line = fits[(id(s), lo, hi)] = fit_line(self.name, tss, vss, args)
        return self._on_line(line, args)

    def _on_line(self, line: Line, args: RangeArgs) -> float | None:
        """deriv()'s or predict_linear()'s value from a fitted line (None for too few samples)."""
        if not line:
            return None
        if self.name == "deriv":
            return line[0]
        return line[0] * args.params[0] + line[1]

    def _extrapolated(
        self, all_series: list[Series], tss: list[array], vss: list[array], start: float, end: float,
        a: RangeArgs, counter: bool, per_second: bool,
    ) -> tuple[list[float | None], int]:
        """rate(), increase(), delta(): each series' value (None for none) and how many have none.

        A range that holds neither a stale marker nor (for a counter) a reset and ends at its
        series' newest sample is *clean*: its value comes from its first and last samples. A series
        whose range was clean at the last evaluation, and which has since gained no sample or one
        that is neither a stale marker nor a reset, has a clean range still (if it ends at that
        sample): those are computed together in C-level passes over the selection's columns, the
        others (and all of them on a first evaluation) one by one.
        """
        n_series = len(all_series)
        clean = self._clean
        if not n_series or clean is None or clean[0] is not all_series or start < clean[1] or end < clean[2]:
            return self._one_by_one(all_series, range(n_series), [None] * n_series, start, end, a, per_second)
        was = clean[3]
        try:
            newest = list(map(_LAST, tss))
            before = list(map(_SECOND_LAST, tss))
        except IndexError:  # a series with fewer than two samples
            return self._one_by_one(all_series, range(n_series), [None] * n_series, start, end, a, per_second)
        last = list(map(_LAST, vss))
        lo = list(map(bisect_left, tss, repeat(start)))
        counts = list(map(operator.sub, map(len, tss), lo))
        # First for the whole selection at once (the usual case): every series gained one sample,
        # none a stale marker (their sum is no NaN) nor a reset, or none gained any.
        total = sum(last)
        ok: list[bool] | None = None
        if (
            (newest == was or (
                before == was and total == total
                and (not counter or all(map(operator.ge, last, map(_SECOND_LAST, vss))))
            ))
            and max(newest) <= end and min(counts) > 1
        ):
            rest = 0
        else:
            # Row by row: no new sample, or one that is neither a stale marker (NaN equals nothing)
            # nor a reset; and a range of two or more samples that ends at the newest.
            fine = map(operator.eq, last, last)
            if counter:
                fine = map(operator.and_, fine, map(operator.ge, last, map(_SECOND_LAST, vss)))
            one_more = map(operator.and_, map(operator.eq, before, was), fine)
            ok = list(map(operator.or_, map(operator.eq, newest, was), one_more))
            ends = map(operator.and_, map(operator.le, newest, repeat(end)),
                       map(operator.gt, counts, repeat(1)))
            ok = list(map(operator.and_, ok, ends))
            rest = ok.count(False)
        first = list(map(operator.getitem, vss, lo))
        columns = [map(operator.sub, last, first), first, map(operator.getitem, tss, lo), newest, counts]
        if rest:
            columns = [compress(c, ok) for c in columns]  # type: ignore[arg-type]
        values = list(map(extrapolate, *columns, repeat(a), repeat(counter), repeat(per_second)))
        if not rest:
            self._clean = (all_series, start, end, newest)
            return values, 0  # type: ignore[return-value]
        assert ok is not None
        got = iter(values)
        merged: list[float | None] = [next(got) if k else None for k in ok]
        others = [i for i, k in enumerate(ok) if not k]
        state = [t if k else _NAN for t, k in zip(newest, ok, strict=True)]  # the rows done here are clean
        return self._one_by_one(all_series, others, merged, start, end, a, per_second, state)

    def _one_by_one(
        self, all_series: list[Series], rows: Iterable[int], values: list[float | None], start: float,
        end: float, a: RangeArgs, per_second: bool, state: list[float] | None = None,
    ) -> tuple[list[float | None], int]:
        """The values of the ``rows`` series one at a time, into ``values``; remembers which ranges
        were clean. Returns the values and how many series have none."""
        counter = EXTRAPOLATED[self.name][0]
        if state is None:
            state = [_NAN] * len(all_series)
        for i in rows:
            s = all_series[i]
            ts = s.ts
            n = len(ts)
            if n < 2:
                continue
            newest_t = ts[n - 1]
            hi = n if newest_t <= end else bisect_right(ts, end)
            lo = bisect_left(ts, start, 0, hi)
            count = hi - lo
            mk = s.marks
            if mk is None or mk[CHECKED] != newest_t:
                mk = marks(s)
            if count < 2:
                continue
            first_t = ts[lo]
            if mk[STALE] < first_t and (not counter or mk[RESET] <= first_t):
                # Neither a stale marker nor a reset inside: the first and last samples tell.
                vs = s.vs
                first = vs[lo]
                values[i] = extrapolate(vs[hi - 1] - first, first, first_t, ts[hi - 1], count, a, counter,
                                        per_second)
                if hi == n:
                    state[i] = newest_t
            else:
                values[i] = self.fn(*range_samples(s, start, end), a)
        self._clean = (all_series, start, end, state)
        return values, values.count(None)


_NAN = math.nan
_LAST = itemgetter(-1)
_SECOND_LAST = itemgetter(-2)


class AbsentOverTime(Node):
    def __init__(self, matrix: MatrixSelector, labels: Labels) -> None:
        self.matrix = matrix
        self.labels = labels

    def children(self) -> tuple[Node, ...]:
        return (self.matrix,)

    def compute(self, ctx: Context) -> Vector:
        for _, _, vs in self.matrix.series_ranges(ctx):
            if vs:
                return EMPTY
        return Vector([self.labels], [1.0])


class Absent(Node):
    def __init__(self, expr: Node, labels: Labels) -> None:
        self.expr = expr
        self.labels = labels

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Vector:
        if self.expr.vector(ctx):
            return EMPTY
        return Vector([self.labels], [1.0])


def absent_labels(selector_matchers: list[tuple[str, str, str]]) -> dict[str, str]:
    """The labels absent() gives its sample: those set by one equality matcher, and only those."""
    labels: dict[str, str] = {}
    dropped: list[str] = []
    for name, op, value in selector_matchers:
        if name == "__name__":
            continue
        if op == "=" and name not in labels:
            labels[name] = value
        else:
            dropped.append(name)
    for name in dropped:
        labels.pop(name, None)
    return {k: v for k, v in labels.items() if v}


def _round(v: float, params: tuple[float, ...]) -> float:
    to_nearest = params[0] if params else 1.0
    inverse = 1.0 / to_nearest if to_nearest else math.copysign(math.inf, to_nearest)
    x = v * inverse + 0.5
    return (float(math.floor(x)) if math.isfinite(x) else x) / inverse


def _sgn(v: float) -> float:
    if v > 0:
        return 1.0
    if v < 0:
        return -1.0
    return v


def _guard(fn: Callable[[float], float]) -> Callable[[float], float]:
    """Go's math returns NaN or Inf where Python's raises."""
    def call(v: float) -> float:
        try:
            return fn(v)
        except ValueError:
            if v == 0.0 and fn in (math.log, math.log2, math.log10):
                return -math.inf
            return math.nan
        except OverflowError:
            return math.inf
    return call


def _finite_or(fn: Callable[[float], int]) -> Callable[[float], float]:
    return lambda v: float(fn(v)) if math.isfinite(v) else v


# name -> (value function taking the value and the scalar parameters, number of scalar parameters)
MATH_FUNCTIONS: dict[str, tuple[Callable[[float, tuple[float, ...]], float], int]] = {
    "abs": (lambda v, p: abs(v), 0),
    "ceil": (lambda v, p: _finite_or(math.ceil)(v), 0),
    "floor": (lambda v, p: _finite_or(math.floor)(v), 0),
    "exp": (lambda v, p: _guard(math.exp)(v), 0),
    "ln": (lambda v, p: _guard(math.log)(v), 0),
    "log2": (lambda v, p: _guard(math.log2)(v), 0),
    "log10": (lambda v, p: _guard(math.log10)(v), 0),
    "sqrt": (lambda v, p: _guard(math.sqrt)(v), 0),
    "sgn": (lambda v, p: _sgn(v), 0),
    "round": (_round, 1),
    "clamp": (lambda v, p: go_max(p[0], go_min(p[1], v)), 2),
    "clamp_min": (lambda v, p: go_max(p[0], v), 1),
    "clamp_max": (lambda v, p: go_min(p[0], v), 1),
}


class MathCall(Node):
    """A function applied to each value of an instant vector; the metric name goes."""

    def __init__(self, name: str, expr: Node, params: tuple[Node, ...]) -> None:
        self.name = name
        self.fn = MATH_FUNCTIONS[name][0]
        self.expr = expr
        self.params = params
        self.drop = name_dropper()

    def children(self) -> tuple[Node, ...]:
        return (self.expr, *self.params)

    def compute(self, ctx: Context) -> Vector:
        vec = self.expr.vector(ctx)
        params = _scalars(self.params, ctx)
        if self.name == "clamp" and params[1] < params[0]:
            return EMPTY
        fn = self.fn
        if self.name == "abs":
            values = list(map(abs, vec.values))
        else:
            values = [fn(v, params) for v in vec.values]
        return renamed(self.expr, vec, Vector(self.drop.many(vec.labels), values))


class Timestamp(Node):
    """timestamp(): a selector's own sample times; any other argument's evaluation time."""

    def __init__(self, expr: Node, *, of_selector: bool) -> None:
        self.expr = expr
        self.of_selector = of_selector
        self.drop = name_dropper()

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Vector:
        vec = self.expr.vector(ctx)
        if self.of_selector and vec.ts is not None:
            values = [ms(t) / 1000 for t in vec.ts]
        else:
            values = [ms(ctx.t) / 1000] * len(vec)
        return renamed(self.expr, vec, Vector(self.drop.many(vec.labels), values))


class SortCall(Node):
    def __init__(self, expr: Node, *, descending: bool) -> None:
        self.expr = expr
        self.descending = descending
        self.one_name = expr.one_name

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Vector:
        vec = self.expr.vector(ctx)
        values = vec.values
        nan = [i for i, v in enumerate(values) if v != v]
        rest = sorted(
            (i for i, v in enumerate(values) if v == v), key=values.__getitem__, reverse=self.descending
        )
        order = rest + nan
        return Vector([vec.labels[i] for i in order], [values[i] for i in order])


class ScalarCall(Node):
    kind = "scalar"

    def __init__(self, expr: Node) -> None:
        self.expr = expr

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> float:
        vec = self.expr.vector(ctx)
        return vec.values[0] if len(vec) == 1 else math.nan


class VectorCall(Node):
    def __init__(self, expr: Node) -> None:
        self.expr = expr

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Vector:
        return Vector([{}], [self.expr.scalar(ctx)])


class TimeCall(Node):
    kind = "scalar"

    def compute(self, ctx: Context) -> float:
        return ms(ctx.t) / 1000


def _utc(v: float) -> datetime:
    return datetime.fromtimestamp(int(v), tz=UTC)


DATE_FUNCTIONS: dict[str, Callable[[datetime], float]] = {
    "minute": lambda d: float(d.minute),
    "hour": lambda d: float(d.hour),
    "day_of_week": lambda d: float(d.isoweekday() % 7),
    "day_of_month": lambda d: float(d.day),
    "month": lambda d: float(d.month),
    "year": lambda d: float(d.year),
}


class DateCall(Node):
    """hour(), day_of_week() ...: fields of a UTC time given in seconds (default: the evaluation time)."""

    def __init__(self, name: str, expr: Node | None) -> None:
        self.name = name
        self.fn = DATE_FUNCTIONS[name]
        self.expr = expr
        self.drop = name_dropper()

    def children(self) -> tuple[Node, ...]:
        return (self.expr,) if self.expr is not None else ()

    def compute(self, ctx: Context) -> Vector:
        if self.expr is None:
            return Vector([{}], [self.fn(_utc(ms(ctx.t) / 1000))])
        vec = self.expr.vector(ctx)
        values = []
        for v in vec.values:
            if not math.isfinite(v) or abs(v) > 2.0**53:
                raise EvaluationError(f"{self.name}(): time {v} out of range")
            values.append(self.fn(_utc(v)))
        return renamed(self.expr, vec, Vector(self.drop.many(vec.labels), values))
