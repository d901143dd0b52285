"""Binary operators: arithmetic, comparisons (filtering or ``bool``), and/or/unless, vector matching."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, repeat

from collector.core.promql.floatops import div, mod, power
from collector.core.promql.model import EvaluationError, format_labels, label_key
from collector.core.promql.nodes import (
    EMPTY,
    Context,
    LabelMap,
    Labels,
    Node,
    Value,
    Vector,
    name_dropper,
    renamed,
)
from collector.core.window import shared_pair

ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": div,
    "%": mod,
    "^": power,
    "atan2": math.atan2,
}
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
SET_OPERATORS = {"and", "or", "unless"}
# Prometheus 2.x drops the metric name for these alone: atan2 and comparisons keep it.
DROPS_NAME = {"+", "-", "*", "/", "%", "^"}


@dataclass(frozen=True)
class Matching:
    """How two vectors' samples pair up: ``on`` (True), ``ignoring`` (False) or neither (None)."""

    card: str  # "one-to-one", "many-to-one" (group_left), "one-to-many" (group_right), "many-to-many"
    on: bool | None
    labels: tuple[str, ...]
    include: tuple[str, ...]

    def signature(self) -> Callable[[Labels], tuple]:
        names = self.labels
        if self.on:
            def on_sig(labels: Labels) -> tuple:
                return tuple([labels.get(n, "") for n in names])
            return on_sig
        ignored = {*names, "__name__"}

        def ignoring_sig(labels: Labels) -> tuple:
            # Kept per series between rounds: made of the window's shared pairs.
            return tuple(sorted([shared_pair(k, v) for k, v in labels.items() if k not in ignored]))
        return ignoring_sig


class Binary(Node):
    def __init__(self, op: str, lhs: Node, rhs: Node, *, return_bool: bool, matching: Matching) -> None:
        self.op = op
        self.lhs = lhs
        self.rhs = rhs
        self.return_bool = return_bool
        self.matching = matching
        self.sig = LabelMap(matching.signature())
        self.drop = name_dropper()
        self.result = LabelMap(self._one_to_one_labels)
        # (right signatures, left signatures, left indices, right indices, left signatures unique)
        self._plan: tuple[list[tuple], list[tuple], list[int], list[int], bool] | None = None
        self._right_set: tuple[list[tuple], set[tuple]] = ([], set())
        # The plan the result labels below were made for, and those labels.
        self._plan_labels: tuple[tuple, list[Labels]] | None = None
        self.kind = "scalar" if lhs.kind == "scalar" and rhs.kind == "scalar" else "vector"
        if op in SET_OPERATORS:
            self.one_name = lhs.one_name and op != "or"
        elif op in COMPARISON and not return_bool:
            self.one_name = lhs.one_name if lhs.kind == "vector" else rhs.one_name
        elif op in DROPS_NAME or return_bool:
            self.one_name = True
        else:
            self.one_name = lhs.one_name and rhs.one_name

    def children(self) -> tuple[Node, ...]:
        return (self.lhs, self.rhs)

    def compute(self, ctx: Context) -> Value:
        lv = self.lhs.eval(ctx)
        rv = self.rhs.eval(ctx)
        op = self.op
        if isinstance(lv, float) and isinstance(rv, float):
            if op in COMPARISON:
                return 1.0 if COMPARISON[op](lv, rv) else 0.0
            return ARITHMETIC[op](lv, rv)
        if isinstance(lv, Vector) and isinstance(rv, Vector):
            if op == "and":
                return self._and(lv, rv)
            if op == "or":
                return self._or(lv, rv)
            if op == "unless":
                return self._unless(lv, rv)
            return self._vector_vector(lv, rv)
        if isinstance(lv, Vector):
            assert isinstance(rv, float)
            return self._vector_scalar(lv, rv, swap=False, node=self.lhs)
        assert isinstance(rv, Vector)
        assert isinstance(lv, float)
        return self._vector_scalar(rv, lv, swap=True, node=self.rhs)

    # -- vector and scalar ---------------------------------------------------------------------
    def _vector_scalar(self, vec: Vector, scalar: float, *, swap: bool, node: Node) -> Vector:
        op = self.op
        values = vec.values
        if op in COMPARISON:
            cmp = COMPARISON[op]
            keep = list(map(cmp, repeat(scalar), values) if swap else map(cmp, values, repeat(scalar)))
            if self.return_bool:
                return renamed(node, vec, Vector(self.drop.many(vec.labels), list(map(float, keep))))
            # A filter keeps the vector's own value, whichever side it stands on.
            return Vector(list(compress(vec.labels, keep)), list(compress(values, keep)))
        fn = ARITHMETIC[op]
        if op == "/" and (scalar != 0.0 if not swap else 0.0 not in values):
            fn = operator.truediv  # div() only differs from it on a zero divisor
        out = list(map(fn, repeat(scalar), values) if swap else map(fn, values, repeat(scalar)))
        if op not in DROPS_NAME:
            return Vector(vec.labels, out)
        return renamed(node, vec, Vector(self.drop.many(vec.labels), out))

    # -- vector and vector ---------------------------------------------------------------------
    def _vector_vector(self, lhs: Vector, rhs: Vector) -> Vector:
        if not lhs or not rhs:
            return EMPTY
        m = self.matching
        swapped = m.card == "one-to-many"
        if swapped:
            lhs, rhs = rhs, lhs
        rsig = self.sig.many(rhs.labels)
        lsig = self.sig.many(lhs.labels)
        plan = self._plan
        # The signature lists are the very lists of last time while both sides' series are: then
        # so are the pairs (the common case from one evaluation to the next).
        if plan is not None and plan[0] is rsig and plan[1] is lsig:
            left, right, unique = plan[2], plan[3], plan[4]
            plan_now = plan
        else:
            one = dict(zip(rsig, range(len(rsig)), strict=True))
            if len(one) != len(rsig):
                self._duplicate_one_side(rhs, rsig, swapped)
            found = list(map(one.get, lsig))
            left = [i for i, j in enumerate(found) if j is not None]
            right = [found[i] for i in left]  # type: ignore[misc]
            unique = len({lsig[i] for i in left}) == len(left)
            self._plan = plan_now = (rsig, lsig, left, right, unique)
        if not left:
            return EMPTY
        lvals, rvals = lhs.values, rhs.values
        a = list(map(lvals.__getitem__, left))
        b = list(map(rvals.__getitem__, right))
        if swapped:
            a, b = b, a
        op = self.op
        is_cmp = op in COMPARISON
        if is_cmp:
            keep = list(map(COMPARISON[op], a, b))
            if self.return_bool:
                values = list(map(float, keep))
            else:
                left = list(compress(left, keep))
                right = list(compress(right, keep))
                values = list(compress(a, keep))
        elif op == "/" and 0.0 not in b:
            values = list(map(operator.truediv, a, b))  # div() only differs from it on a zero divisor
        else:
            values = list(map(ARITHMETIC[op], a, b))
        drop = op in DROPS_NAME or self.return_bool
        many_labels = lhs.labels
        if m.card == "one-to-one":
            # Pairs unique before a comparison filtered them stay unique after it.
            if not unique and len({lsig[i] for i in left}) != len(left):
                raise EvaluationError(
                    "multiple matches for labels: "
                    "many-to-one matching must be explicit (group_left/group_right)"
                )
            if is_cmp and not self.return_bool:
                labels = self.result.many(list(map(many_labels.__getitem__, left)))
            else:
                # Every pair of the plan has a sample: while the plan holds (the same signature
                # lists, so the same label sets in the same order), so do the result's labels.
                kept = self._plan_labels
                if kept is None or kept[0] is not plan_now:
                    kept = (plan_now, self.result.many(list(map(many_labels.__getitem__, left))))
                    self._plan_labels = kept
                labels = kept[1]
            if self.return_bool:
                labels = [_without_name(lb) for lb in labels]
            return Vector(labels, values)
        labels = []
        one_labels = rhs.labels
        seen: set[tuple] = set()
        for i, j in zip(left, right, strict=True):
            lb = self._group_labels(many_labels[i], one_labels[j], drop=drop)
            mark = (lsig[i], label_key(lb))
            if mark in seen:
                raise EvaluationError(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                )
            seen.add(mark)
            labels.append(lb)
        return Vector(labels, values)

    def _duplicate_one_side(self, vec: Vector, sigs: list[tuple], swapped: bool) -> None:
        first: dict[tuple, int] = {}
        for i, k in enumerate(sigs):
            if k in first:
                side = "left" if swapped else "right"
                a, b = vec.labels[first[k]], vec.labels[i]
                raise EvaluationError(
                    f"found duplicate series for the match group {_group(self.matching, b)} on the {side} "
                    f"hand-side of the operation: [{format_labels(a)}, {format_labels(b)}]"
                    ";many-to-many matching not allowed: matching labels must be unique on one side"
                )
            first[k] = i

    def _one_to_one_labels(self, many: Labels) -> Labels:
        """The result labels of one-to-one matching; the name goes unless this is a filter."""
        m = self.matching
        keep_name = self.op not in DROPS_NAME  # ``bool`` drops it afterwards
        if m.on:
            return {n: many[n] for n in m.labels if n in many and (n != "__name__" or keep_name)}
        if keep_name and not m.labels:
            return many
        ignored = set(m.labels)
        if not keep_name:
            ignored.add("__name__")
        return {k: v for k, v in many.items() if k not in ignored}

    def _group_labels(self, many: Labels, one: Labels, *, drop: bool) -> Labels:
        labels = _without_name(many) if drop else many
        if self.matching.include:
            labels = dict(labels)
            for n in self.matching.include:
                v = one.get(n, "")
                if v:
                    labels[n] = v
                else:
                    labels.pop(n, None)
        return labels

    # -- set operators -------------------------------------------------------------------------
    def _right_signatures(self, rhs: Vector) -> set[tuple]:
        """The right side's signatures as a set, kept while its signature list is the same."""
        rsig = self.sig.many(rhs.labels)
        if self._right_set[0] is not rsig:
            self._right_set = (rsig, set(rsig))
        return self._right_set[1]

    def _and(self, lhs: Vector, rhs: Vector) -> Vector:
        if not lhs or not rhs:
            return EMPTY
        right = self._right_signatures(rhs)
        keep = list(map(right.__contains__, self.sig.many(lhs.labels)))
        return Vector(list(compress(lhs.labels, keep)), list(compress(lhs.values, keep)))

    def _or(self, lhs: Vector, rhs: Vector) -> Vector:
        if not lhs:
            return Vector(rhs.labels, rhs.values)
        if not rhs:
            return Vector(lhs.labels, lhs.values)
        left = set(self.sig.many(lhs.labels))
        keep = [k not in left for k in self.sig.many(rhs.labels)]
        return Vector(
            lhs.labels + list(compress(rhs.labels, keep)), lhs.values + list(compress(rhs.values, keep))
        )

    def _unless(self, lhs: Vector, rhs: Vector) -> Vector:
        if not lhs or not rhs:
            return Vector(lhs.labels, lhs.values)
        right = self._right_signatures(rhs)
        keep = [k not in right for k in self.sig.many(lhs.labels)]
        return Vector(list(compress(lhs.labels, keep)), list(compress(lhs.values, keep)))


def _without_name(labels: Labels) -> Labels:
    if "__name__" not in labels:
        return labels
    return {k: v for k, v in labels.items() if k != "__name__"}


def _group(m: Matching, labels: Labels) -> str:
    if m.on:
        picked = {n: labels[n] for n in m.labels if n in labels}
    else:
        ignored = {*m.labels, "__name__"}
        picked = {k: v for k, v in labels.items() if k not in ignored}
    return format_labels(picked)
