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
year. Refused: the @ modifier, subqueries, count_values, quantile, histograms and every other
function.

The same package reads promtool's rule-test notation (``parse_series_values``,
``load_input_series``) and checks ``promql_expr_test`` entries (``run_promql_expr_tests``).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from collector.core.promql.nodes import Context, Node
from collector.core.promql.notation import STALE, load_input_series, parse_series_values
from collector.core.window import RecentWindow

DEFAULT_LOOKBACK = 300.0

__all__ = [
    "DEFAULT_LOOKBACK",
    "STALE",
    "CompiledExpr",
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


@dataclass(frozen=True, eq=False)
class CompiledExpr:
    """A parsed and checked expression, ready to be evaluated any number of times."""

    text: str
    root: Node

    @property
    def kind(self) -> str:
        """What evaluate() returns: "vector", "scalar" or "string"."""
        return self.root.kind

    def evaluate(
        self, window: RecentWindow, t: float, *, lookback: float = DEFAULT_LOOKBACK
    ) -> InstantVector | float | str:
        """The expression's value at time ``t`` (seconds) over ``window``.

        An instant vector comes back as a new list of Samples whose label dicts the caller may
        change freely. Raises EvaluationError where Prometheus would fail the query too.
        """
        value = self.root.eval(Context(window, t, lookback))
        if isinstance(value, list):
            return [Sample(dict(s.labels), s.value) for s in value]
        return value

    def max_range(self, lookback: float = DEFAULT_LOOKBACK) -> float:
        """How many seconds before the evaluation time the expression reads: ranges, offsets, lookback."""
        return self.root.reach(lookback)

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
