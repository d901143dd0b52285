"""Binary operators: arithmetic, comparisons (filtering or ``bool``), and/or/unless, vector matching."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from collector.core.promql.floatops import div, mod, power
from collector.core.promql.model import EvaluationError, InstantVector, Sample, format_labels
from collector.core.promql.nodes import Context, Node, Value, drop_name, renamed

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


@dataclass(frozen=True)
class Matching:
    """How two vectors' samples pair up: ``on`` (True), ``ignoring`` (False) or neither (None)."""

    card: str  # "one-to-one", "many-to-one" (group_left), "one-to-many" (group_right), "many-to-many"
    on: bool | None
    labels: tuple[str, ...]
    include: tuple[str, ...]

    def signature(self) -> Callable[[dict[str, str]], tuple]:
        names = self.labels
        if self.on:
            def on_sig(labels: dict[str, str]) -> tuple:
                return tuple([labels.get(n, "") for n in names])
            return on_sig
        ignored = {*names, "__name__"}

        def ignoring_sig(labels: dict[str, str]) -> tuple:
            return tuple(sorted([kv for kv in labels.items() if kv[0] not in ignored]))
        return ignoring_sig


class Binary(Node):
    def __init__(
        self, op: str, lhs: Node, rhs: Node, *, return_bool: bool, matching: Matching
    ) -> None:
        self.op = op
        self.lhs = lhs
        self.rhs = rhs
        self.return_bool = return_bool
        self.matching = matching
        self.sig = matching.signature()
        self.kind = "scalar" if lhs.kind == "scalar" and rhs.kind == "scalar" else "vector"

    def children(self) -> tuple[Node, ...]:
        return (self.lhs, self.rhs)

    def eval(self, ctx: Context) -> Value:
        lv = self.lhs.eval(ctx)
        rv = self.rhs.eval(ctx)
        op = self.op
        if isinstance(lv, float) and isinstance(rv, float):
            if op in COMPARISON:
                return 1.0 if COMPARISON[op](lv, rv) else 0.0
            return ARITHMETIC[op](lv, rv)
        if isinstance(lv, list) and isinstance(rv, list):
            if op == "and":
                return self._and(lv, rv)
            if op == "or":
                return self._or(lv, rv)
            if op == "unless":
                return self._unless(lv, rv)
            return self._vector_vector(lv, rv)
        if isinstance(lv, list):
            assert isinstance(rv, float)
            return self._vector_scalar(lv, rv, swap=False)
        assert isinstance(rv, list)
        assert isinstance(lv, float)
        return self._vector_scalar(rv, lv, swap=True)

    # -- vector and scalar ---------------------------------------------------------------------
    def _vector_scalar(self, vec: InstantVector, scalar: float, *, swap: bool) -> InstantVector:
        op = self.op
        out: InstantVector = []
        if op in COMPARISON:
            cmp = COMPARISON[op]
            if self.return_bool:
                for s in vec:
                    a, b = (scalar, s.value) if swap else (s.value, scalar)
                    out.append(Sample(drop_name(s.labels), 1.0 if cmp(a, b) else 0.0, s.key))
                return renamed(vec, out)
            # A filter keeps the vector's own value, whichever side it stands on.
            if swap:
                return [s for s in vec if cmp(scalar, s.value)]
            return [s for s in vec if cmp(s.value, scalar)]
        fn = ARITHMETIC[op]
        if swap:
            out = [Sample(drop_name(s.labels), fn(scalar, s.value), s.key) for s in vec]
        else:
            out = [Sample(drop_name(s.labels), fn(s.value, scalar), s.key) for s in vec]
        return renamed(vec, out)

    # -- vector and vector ---------------------------------------------------------------------
    def _vector_vector(self, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
        if not lhs or not rhs:
            return []
        m = self.matching
        sig = self.sig
        swapped = m.card == "one-to-many"
        if swapped:
            lhs, rhs = rhs, lhs
        one: dict[tuple, Sample] = {}
        for rs in rhs:
            k = sig(rs.labels)
            dup = one.get(k)
            if dup is not None:
                side = "left" if swapped else "right"
                raise EvaluationError(
                    f"found duplicate series for the match group {_group(m, rs.labels)} on the {side} "
                    f"hand-side of the operation: [{format_labels(dup.labels)}, {format_labels(rs.labels)}]"
                    ";many-to-many matching not allowed: matching labels must be unique on one side"
                )
            one[k] = rs
        op = self.op
        is_cmp = op in COMPARISON
        fn_cmp = COMPARISON.get(op)
        fn_arith = ARITHMETIC.get(op)
        return_bool = self.return_bool
        one_to_one = m.card == "one-to-one"
        matched: dict[tuple, set[tuple] | None] = {}
        out: InstantVector = []
        for ls in lhs:
            k = sig(ls.labels)
            rs = one.get(k)
            if rs is None:
                continue
            a, b = (rs.value, ls.value) if swapped else (ls.value, rs.value)
            if is_cmp:
                assert fn_cmp is not None
                keep = fn_cmp(a, b)
                if return_bool:
                    value = 1.0 if keep else 0.0
                elif not keep:
                    continue
                else:
                    value = a
            else:
                assert fn_arith is not None
                value = fn_arith(a, b)
            labels = self._result_labels(ls.labels, rs.labels, drop=not is_cmp or return_bool)
            if one_to_one:
                if k in matched:
                    raise EvaluationError(
                        "multiple matches for labels: many-to-one matching must be explicit "
                        "(group_left/group_right)"
                    )
                matched[k] = None
            else:
                inserted = matched.get(k)
                if inserted is None:
                    inserted = set()
                    matched[k] = inserted
                lk = tuple(sorted(labels.items()))
                if lk in inserted:
                    raise EvaluationError(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                    )
                inserted.add(lk)
            out.append(Sample(labels, value, ls.key))
        return out

    def _result_labels(self, many: dict[str, str], one: dict[str, str], *, drop: bool) -> dict[str, str]:
        m = self.matching
        if m.card == "one-to-one":
            if m.on:
                return {n: many[n] for n in m.labels if n in many and (n != "__name__" or not drop)}
            if not drop and not m.labels:
                return many
            ignored = set(m.labels)
            if drop:
                ignored.add("__name__")
            return {k: v for k, v in many.items() if k not in ignored}
        labels = drop_name(many) if drop else dict(many)
        if m.include:
            labels = dict(labels)
            for n in m.include:
                v = one.get(n, "")
                if v:
                    labels[n] = v
                else:
                    labels.pop(n, None)
        return labels

    # -- set operators -------------------------------------------------------------------------
    def _and(self, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
        if not lhs or not rhs:
            return []
        sig = self.sig
        right = {sig(s.labels) for s in rhs}
        return [s for s in lhs if sig(s.labels) in right]

    def _or(self, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
        if not lhs:
            return list(rhs)
        if not rhs:
            return list(lhs)
        sig = self.sig
        left = {sig(s.labels) for s in lhs}
        return [*lhs, *(s for s in rhs if sig(s.labels) not in left)]

    def _unless(self, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
        if not lhs or not rhs:
            return list(lhs)
        sig = self.sig
        right = {sig(s.labels) for s in rhs}
        return [s for s in lhs if sig(s.labels) not in right]


def _group(m: Matching, labels: dict[str, str]) -> str:
    if m.on:
        picked = {n: labels[n] for n in m.labels if n in labels}
    else:
        ignored = {*m.labels, "__name__"}
        picked = {k: v for k, v in labels.items() if k not in ignored}
    return format_labels(picked)
