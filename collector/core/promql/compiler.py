"""From PromQL text to an evaluation tree, refusing at compile time what the engine does not do.

The text is parsed by ``promql_parser`` (a real PromQL parser; nothing is ever eval'd). Every
AST node is then mapped to a node of ours or refused with UnsupportedExpression naming the
function or feature, so a rule is never evaluated wrong silently.
"""

from __future__ import annotations

from typing import Any

import promql_parser as pp

from collector.core.promql.aggregate import SUPPORTED as AGGREGATIONS
from collector.core.promql.aggregate import Aggregate
from collector.core.promql.binary import ARITHMETIC, COMPARISON, SET_OPERATORS, Binary, Matching
from collector.core.promql.functions import (
    DATE_FUNCTIONS,
    MATH_FUNCTIONS,
    Absent,
    AbsentOverTime,
    DateCall,
    MathCall,
    RangeCall,
    ScalarCall,
    SortCall,
    TimeCall,
    Timestamp,
    VectorCall,
    absent_labels,
)
from collector.core.promql.labelfuncs import LABEL_NAME, LabelJoin, LabelReplace
from collector.core.promql.model import PromQLError, UnsupportedExpression
from collector.core.promql.nodes import (
    MatrixSelector,
    Negate,
    Node,
    Number,
    Paren,
    String,
    VectorSelector,
)
from collector.core.promql.rangefuncs import RANGE_FUNCTIONS
from collector.core.promql.selectors import LabelMatcher, SeriesSelector, compile_regex

# The parser's enums are not hashable: look them up by equality.
_MATCH_OPS = (
    (pp.MatchOp.Equal, "="),
    (pp.MatchOp.NotEqual, "!="),
    (pp.MatchOp.Re, "=~"),
    (pp.MatchOp.NotRe, "!~"),
)
_CARD = (
    (pp.VectorMatchCardinality.OneToOne, "one-to-one"),
    (pp.VectorMatchCardinality.ManyToOne, "many-to-one"),
    (pp.VectorMatchCardinality.OneToMany, "one-to-many"),
    (pp.VectorMatchCardinality.ManyToMany, "many-to-many"),
)


def _lookup(table: tuple[tuple[Any, str], ...], value: Any) -> str:
    for member, name in table:
        if member == value:
            return name
    raise PromQLError(f"unknown parser value {value!r}")


def parse(text: str) -> Any:
    """The promql_parser AST of ``text``; a syntax error becomes PromQLError quoting the text."""
    try:
        return pp.parse(text)
    except ValueError as e:
        raise PromQLError(f"cannot parse {text!r}: {e}") from e


class Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def refuse(self, name: str) -> UnsupportedExpression:
        return UnsupportedExpression(name, self.text)

    def node(self, e: Any) -> Node:
        built = self._node(e)
        if isinstance(built, MatrixSelector):
            built.ident = str(e)
        elif not isinstance(built, Number | String | Paren):
            # Identical subexpressions share one result per evaluation (see Context.memo).
            built.text = str(e)
        return built

    def _node(self, e: Any) -> Node:
        if isinstance(e, pp.ParenExpr):
            return Paren(self.node(e.expr))
        if isinstance(e, pp.NumberLiteral):
            return Number(float(e.val))
        if isinstance(e, pp.StringLiteral):
            return String(str(e.val))
        if isinstance(e, pp.VectorSelector):
            selector, _ = self.selector(e)
            return VectorSelector(selector, self.offset(e))
        if isinstance(e, pp.MatrixSelector):
            vs = e.vector_selector
            selector, _ = self.selector(vs)
            return MatrixSelector(selector, e.range.total_seconds(), self.offset(vs))
        if isinstance(e, pp.SubqueryExpr):
            raise self.refuse("subquery")
        if isinstance(e, pp.UnaryExpr):
            return Negate(self.node(e.expr))
        if isinstance(e, pp.BinaryExpr):
            return self.binary(e)
        if isinstance(e, pp.AggregateExpr):
            return self.aggregate(e)
        if isinstance(e, pp.Call):
            return self.call(e)
        raise self.refuse(type(e).__name__)

    # -- selectors -------------------------------------------------------------------------------
    def offset(self, vs: Any) -> float:
        if vs.at is not None:
            raise self.refuse("@ modifier")
        seconds = vs.offset.total_seconds() if vs.offset is not None else 0.0
        if seconds < 0:
            # Prometheus 2.x does not read past the evaluation time with it (promtool shows as
            # much), which our window would: refuse rather than disagree.
            raise self.refuse("negative offset")
        return seconds

    def matchers(self, vs: Any) -> list[tuple[str, str, str]]:
        if vs.matchers.or_matchers:
            raise self.refuse("'or' between label matchers")
        found = [(m.name, _lookup(_MATCH_OPS, m.op), m.value) for m in vs.matchers.matchers]
        if vs.name:
            found.insert(0, ("__name__", "=", vs.name))
        return found

    def selector(self, vs: Any) -> tuple[SeriesSelector, list[tuple[str, str, str]]]:
        if vs.at is not None:
            raise self.refuse("@ modifier")
        triples = self.matchers(vs)
        name = next((v for n, op, v in triples if n == "__name__" and op == "="), None)
        built = [
            LabelMatcher.build(n, op, v, self.text)
            for n, op, v in triples
            if not (n == "__name__" and op == "=" and v == name)
        ]
        return SeriesSelector(name, built), triples

    # -- operators -------------------------------------------------------------------------------
    def binary(self, e: Any) -> Node:
        op = str(e.op)
        if op not in ARITHMETIC and op not in COMPARISON and op not in SET_OPERATORS:
            raise self.refuse(f"operator {op}")
        lhs = self.node(e.lhs)
        rhs = self.node(e.rhs)
        mod = e.modifier
        card = "many-to-many" if op in SET_OPERATORS else "one-to-one"
        on: bool | None = None
        labels: tuple[str, ...] = ()
        include: tuple[str, ...] = ()
        return_bool = False
        if mod is not None:
            fill = getattr(mod, "fill_values", None)
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                raise self.refuse("fill() modifier")
            card = _lookup(_CARD, mod.card)
            return_bool = bool(mod.return_bool)
            if mod.matching is not None:
                on = mod.matching.type == pp.LabelModifierType.Include
                labels = tuple(mod.matching.labels)
            include = tuple(mod.group_labels or ())
        return Binary(op, lhs, rhs, return_bool=return_bool, matching=Matching(card, on, labels, include))

    def aggregate(self, e: Any) -> Node:
        op = str(e.op)
        if op not in AGGREGATIONS:
            raise self.refuse(op)
        param = self.node(e.param) if e.param is not None else None
        without = False
        grouping: tuple[str, ...] = ()
        if e.modifier is not None:
            without = e.modifier.type == pp.AggModifierType.Without
            grouping = tuple(e.modifier.labels)
        return Aggregate(op, self.node(e.expr), param, without=without, grouping=grouping)

    # -- functions -------------------------------------------------------------------------------
    def call(self, e: Any) -> Node:
        name = e.func.name
        args = list(e.args)
        if name in RANGE_FUNCTIONS:
            _, before, _ = RANGE_FUNCTIONS[name]
            matrix = self.matrix(args[before])
            params = tuple(self.node(a) for i, a in enumerate(args) if i != before)
            return RangeCall(name, matrix, params)
        if name == "absent_over_time":
            matrix = self.matrix(args[0])
            return AbsentOverTime(matrix, absent_labels(self.matchers(args[0].vector_selector)))
        if name == "absent":
            inner = args[0]
            labels = absent_labels(self.matchers(inner)) if isinstance(inner, pp.VectorSelector) else {}
            return Absent(self.node(inner), labels)
        if name in MATH_FUNCTIONS:
            return MathCall(name, self.node(args[0]), tuple(self.node(a) for a in args[1:]))
        if name == "timestamp":
            inner = args[0]
            while isinstance(inner, pp.ParenExpr):
                inner = inner.expr
            arg = self.node(args[0])
            selector = arg
            while isinstance(selector, Paren):
                selector = selector.expr
            if isinstance(selector, VectorSelector):
                selector.with_times = True
                selector.text = "with times " + selector.text  # its result differs from a plain one's
            return Timestamp(arg, of_selector=isinstance(inner, pp.VectorSelector))
        if name == "label_replace":
            dst, repl, src, regex = (self.string(a) for a in args[1:5])
            if not LABEL_NAME.fullmatch(dst):
                raise PromQLError(f"invalid destination label name in label_replace(): {dst!r}")
            return LabelReplace(self.node(args[0]), dst, repl, src, compile_regex(regex, self.text))
        if name == "label_join":
            dst, sep, *srcs = (self.string(a) for a in args[1:])
            if not LABEL_NAME.fullmatch(dst):
                raise PromQLError(f"invalid destination label name in label_join(): {dst!r}")
            return LabelJoin(self.node(args[0]), dst, sep, tuple(srcs))
        if name in ("sort", "sort_desc"):
            return SortCall(self.node(args[0]), descending=name == "sort_desc")
        if name == "scalar":
            return ScalarCall(self.node(args[0]))
        if name == "vector":
            return VectorCall(self.node(args[0]))
        if name == "time":
            return TimeCall()
        if name in DATE_FUNCTIONS:
            return DateCall(name, self.node(args[0]) if args else None)
        raise self.refuse(name)

    def matrix(self, e: Any) -> MatrixSelector:
        if not isinstance(e, pp.MatrixSelector):
            raise self.refuse("subquery")
        node = self.node(e)
        assert isinstance(node, MatrixSelector)
        return node

    def string(self, e: Any) -> str:
        while isinstance(e, pp.ParenExpr):
            e = e.expr
        if not isinstance(e, pp.StringLiteral):
            raise self.refuse("a computed string argument")
        return str(e.val)
