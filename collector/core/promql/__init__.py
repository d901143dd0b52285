"""PromQL evaluation over the collector's recent window, for Prometheus alerting rules.

A subset of PromQL is evaluated exactly as Prometheus 2.x evaluates it (staleness, lookback,
rate extrapolation, vector matching, label handling, error cases); anything outside the subset
is refused when the expression is compiled, naming what is unsupported::

    expr = compile_expr('node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.1')
    for sample in expr.evaluate(window, now):
        sample.labels, sample.value

Supported: instant and range selectors (=, !=, =~, !~, offset); arithmetic (+ - * / % ^ atan2)
and comparisons (with and without ``bool``); one-to-one and group_left/group_right matching
with on/ignoring; and/or/unless; sum avg min max count group stddev stdvar topk bottomk with
by/without; rate irate increase delta idelta deriv predict_linear changes resets and
avg/min/max/sum/count/last/present/stddev/stdvar/quantile_over_time; absent absent_over_time
time timestamp vector scalar abs ceil floor round exp ln log2 log10 sqrt sgn clamp clamp_min
clamp_max label_replace label_join sort sort_desc minute hour day_of_week day_of_month month
year. Refused: the @ modifier, negative offsets, subqueries, count_values, quantile, limitk,
histograms and every other function.

Semantics are Prometheus 2.x's (the release whose promtool checks our rule files, and which the
tests compare against): closed ranges ``[t - range, t]`` and lookback ``[t - 5m, t]``; atan2 and
comparisons keep ``__name__``, other arithmetic drops it; last_over_time keeps it. deriv() and
predict_linear() over ranges of more than 20 samples use sliding sums (see regression.py).
Each series carries marks (scan.py: its newest stale marker, counter reset and change of value,
brought up to date with the samples that arrived since the last evaluation), so rate(),
increase() and delta() over a range without either read only its ends, and changes(), resets(),
min_over_time() and max_over_time() over a range of one value read only its first sample.

Between evaluations a compiled expression keeps what does not change while the window's set of
series does not (RecentWindow.generation): each selector its selection, each node the label
lists and matching plans derived from it. rate() and friends carry over, per series, that its
range was clean; a series that has since gained one sample, neither a stale marker nor a reset,
is computed with the rest of such series in C-level passes over the selection's columns.

Evaluating a rule pack: pass one ``EvaluationCache`` to every ``evaluate`` of a round so rules
sharing a subexpression compute it once.

The same package reads promtool's rule-test notation (``parse_series_values``,
``load_input_series``) and checks ``promql_expr_test`` entries (``run_promql_expr_tests``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.core.promql.compiler import Compiler, parse
from collector.core.promql.exprtest import TestFailure, parse_labels, run_promql_expr_tests
from collector.core.promql.model import (
    EvaluationError,
    InstantVector,
    PromQLError,
    Sample,
    UnsupportedExpression,
    format_labels,
)
from collector.core.promql.nodes import Context, Node, Vector
from collector.core.promql.notation import STALE, load_input_series, parse_series_values
from collector.core.window import RecentWindow

DEFAULT_LOOKBACK = 300.0

__all__ = [
    "DEFAULT_LOOKBACK",
    "STALE",
    "CompiledExpr",
    "EvaluationCache",
    "EvaluationError",
    "InstantVector",
    "PromQLError",
    "Sample",
    "TestFailure",
    "UnsupportedExpression",
    "compile_expr",
    "format_labels",
    "load_input_series",
    "parse_labels",
    "parse_series_values",
    "run_promql_expr_tests",
]


class EvaluationCache:
    """Results shared by expressions evaluated at one instant over one unchanged window.

    Pass the same cache to every ``evaluate`` of one rule-evaluation round: rules that share a
    subexpression (``up``, a filesystem ratio, a rate) then compute it once. A cache notices a
    different window, time or lookback and starts over, but not samples added to the same
    window: make a new one for each round.
    """

    def __init__(self) -> None:
        self._at: tuple[int, float, float] | None = None
        self._memo: dict[str, Any] = {}

    def memo_for(self, window: RecentWindow, t: float, lookback: float) -> dict[str, Any]:
        at = (id(window), t, lookback)
        if at != self._at:
            self._at = at
            self._memo = {}
        return self._memo


@dataclass(frozen=True, eq=False)
class CompiledExpr:
    """A parsed and checked expression, ready to be evaluated any number of times.

    It keeps caches between evaluations (selected series, derived label sets, sliding fits), so
    one CompiledExpr must not be evaluated from two threads at once.
    """

    text: str
    root: Node

    @property
    def kind(self) -> str:
        """What evaluate() returns: "vector", "scalar" or "string"."""
        return self.root.kind

    def evaluate(
        self,
        window: RecentWindow,
        t: float,
        *,
        lookback: float = DEFAULT_LOOKBACK,
        cache: EvaluationCache | None = None,
    ) -> InstantVector | float | str:
        """The expression's value at time ``t`` (seconds) over ``window``.

        An instant vector comes back as a new list of Samples whose label dicts the caller may
        change freely. Raises EvaluationError where Prometheus would fail the query too.
        """
        memo = cache.memo_for(window, t, lookback) if cache is not None else {}
        value = self.root.eval(Context(window, t, lookback, memo))
        if isinstance(value, Vector):
            return [Sample(dict(lb), v) for lb, v in zip(value.labels, value.values, strict=True)]
        return value

    def max_range(self, lookback: float = DEFAULT_LOOKBACK) -> float:
        """How many seconds before the evaluation time the expression reads: ranges, offsets, lookback."""
        return self.root.reach(lookback)

    def reaches(self, lookback: float = DEFAULT_LOOKBACK) -> dict[str | None, float]:
        """``max_range`` per metric name the selectors name; under None, that of selectors naming
        no metric (a regex on ``__name__``, or labels only), which may read any series."""
        return self.root.reaches(lookback)

    def metric_names(self) -> set[str]:
        """The metric names the expression's selectors name (a regex on ``__name__`` names none)."""
        return self.root.names()


def compile_expr(text: str) -> CompiledExpr:
    """Parse and check ``text``; PromQLError for a syntax error, UnsupportedExpression for the rest."""
    ast = parse(text)
    root = Compiler(text).node(ast)
    if root.kind == "matrix":
        raise UnsupportedExpression("a range vector as the result", text)
    return CompiledExpr(text, root)
