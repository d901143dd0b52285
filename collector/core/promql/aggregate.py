"""Aggregation operators: sum, avg, min, max, count, group, stddev, stdvar, topk, bottomk.

Floating-point results depend on the order samples are added in. Prometheus adds them in its
vector's order, which for a selector is the order its series were created in; the window keeps
that order too, so sums come out bit for bit the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from collector.core.promql.model import EvaluationError, InstantVector, Sample
from collector.core.promql.nodes import Context, Node, Value

SUPPORTED = {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk"}


class Aggregate(Node):
    def __init__(
        self, op: str, expr: Node, param: Node | None, *, without: bool, grouping: tuple[str, ...]
    ) -> None:
        self.op = op
        self.expr = expr
        self.param = param
        self.without = without
        self.grouping = grouping

    def children(self) -> tuple[Node, ...]:
        return (self.expr,) if self.param is None else (self.param, self.expr)

    def _group_of(self) -> Callable[[dict[str, str]], tuple]:
        names = self.grouping
        if self.without:
            dropped = {*names, "__name__"}

            def without_key(labels: dict[str, str]) -> tuple:
                return tuple(sorted([kv for kv in labels.items() if kv[0] not in dropped]))
            return without_key

        def by_key(labels: dict[str, str]) -> tuple:
            return tuple([labels.get(n, "") for n in names])
        return by_key

    def _result_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if self.without:
            dropped = {*self.grouping, "__name__"}
            return {k: v for k, v in labels.items() if k not in dropped}
        return {n: labels[n] for n in self.grouping if labels.get(n, "")}

    def eval(self, ctx: Context) -> Value:
        k_param = self.param.eval(ctx) if self.param is not None else None
        vec = self.expr.eval(ctx)
        assert isinstance(vec, list)
        key_of = self._group_of()
        groups: dict[tuple, list[Sample]] = {}
        for s in vec:
            k = key_of(s.labels)
            g = groups.get(k)
            if g is None:
                groups[k] = [s]
            else:
                g.append(s)
        op = self.op
        if op in ("topk", "bottomk"):
            assert isinstance(k_param, float)
            return _top(groups, k_param, len(vec), largest=op == "topk")
        out: InstantVector = []
        fold = _FOLDS[op]
        for members in groups.values():
            labels = self._result_labels(members[0].labels)
            out.append(Sample(labels, fold([s.value for s in members]), tuple(sorted(labels.items()))))
        return out


def _sum(values: list[float]) -> float:
    total = values[0]
    for v in values[1:]:
        total += v
    return total


def _avg(values: list[float]) -> float:
    mean = values[0]
    count = 1.0
    for v in values[1:]:
        count += 1.0
        if math.isinf(mean):
            # Inf - Inf would turn an infinite mean into NaN; the mean is already right.
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and v == v:
                continue
        mean += v / count - mean / count
    return mean


def _min(values: list[float]) -> float:
    best = values[0]
    for v in values[1:]:
        if best > v or best != best:
            best = v
    return best


def _max(values: list[float]) -> float:
    best = values[0]
    for v in values[1:]:
        if best < v or best != best:
            best = v
    return best


def _stdvar(values: list[float]) -> float:
    mean = values[0]
    acc = 0.0
    count = 1.0
    for v in values[1:]:
        count += 1.0
        delta = v - mean
        mean += delta / count
        acc += delta * (v - mean)
    return acc / count


_FOLDS: dict[str, Callable[[list[float]], float]] = {
    "sum": _sum,
    "avg": _avg,
    "min": _min,
    "max": _max,
    "count": lambda vs: float(len(vs)),
    "group": lambda vs: 1.0,
    "stdvar": _stdvar,
    "stddev": lambda vs: math.sqrt(_stdvar(vs)),
}


def _top(groups: dict[tuple, list[Sample]], k_param: float, total: int, *, largest: bool) -> InstantVector:
    """topk/bottomk with Prometheus' heap, so that ties pick the same series Prometheus picks."""
    if not -(2.0**63) <= k_param < 2.0**63:
        shown = "NaN" if k_param != k_param else ("+Inf" if k_param > 0 else "-Inf")
        if math.isfinite(k_param):
            shown = repr(k_param)
        raise EvaluationError(f"Scalar value {shown} overflows int64")
    k = min(int(k_param), total)
    if k < 1:
        return []

    def less(a: float, b: float) -> bool:
        if a != a and b == b:
            return True
        return a < b if largest else a > b

    out: InstantVector = []
    for members in groups.values():
        heap: list[Sample] = []
        for s in members:
            if len(heap) < k:
                heap.append(s)
                _up(heap, len(heap) - 1, less)
            elif less(heap[0].value, s.value):
                heap[0] = s
                _down(heap, 0, len(heap), less)
        # Prometheus returns each group best first.
        ordered: list[Sample] = []
        while heap:
            heap[0], heap[-1] = heap[-1], heap[0]
            ordered.append(heap.pop())
            _down(heap, 0, len(heap), less)
        out.extend(reversed(ordered))
    return out


def _up(h: list[Sample], j: int, less: Callable[[float, float], bool]) -> None:
    while j > 0:
        i = (j - 1) // 2
        if not less(h[j].value, h[i].value):
            break
        h[i], h[j] = h[j], h[i]
        j = i


def _down(h: list[Sample], i: int, n: int, less: Callable[[float, float], bool]) -> None:
    while True:
        j = 2 * i + 1
        if j >= n:
            break
        if j + 1 < n and less(h[j + 1].value, h[j].value):
            j += 1
        if not less(h[j].value, h[i].value):
            break
        h[i], h[j] = h[j], h[i]
        i = j
