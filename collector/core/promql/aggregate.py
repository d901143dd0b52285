"""Aggregation operators: sum, avg, min, max, count, group, stddev, stdvar, topk, bottomk.

Floating-point results depend on the order samples are added in. Prometheus adds them in its
vector's order, which for a selector is the order its series were created in; the window keeps
that order too, so sums come out bit for bit the same.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from functools import reduce

from collector.core.promql.model import EvaluationError
from collector.core.promql.nodes import EMPTY, Context, LabelMap, Labels, Node, Value, Vector

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
        self.group_key = LabelMap(self._key_of())
        self._out_labels: dict[tuple, Labels] = {}
        self._last_keys: list[tuple] = []
        self._last_members: dict[tuple, list[int]] = {}
        self._group_labels: list[Labels] | None = None
        # topk/bottomk return their input samples; the others build fresh label sets.
        self.one_name = expr.one_name if op in ("topk", "bottomk") else "__name__" not in grouping or without

    def children(self) -> tuple[Node, ...]:
        return (self.expr,) if self.param is None else (self.param, self.expr)

    def _key_of(self) -> Callable[[Labels], tuple]:
        names = self.grouping
        if self.without:
            dropped = {*names, "__name__"}

            def without_key(labels: Labels) -> tuple:
                return tuple(sorted([kv for kv in labels.items() if kv[0] not in dropped]))
            return without_key

        def by_key(labels: Labels) -> tuple:
            return tuple([labels.get(n, "") for n in names])
        return by_key

    def _result_labels(self, key: tuple, labels: Labels) -> Labels:
        out = self._out_labels.get(key)
        if out is None:
            if self.without:
                dropped = {*self.grouping, "__name__"}
                out = {k: v for k, v in labels.items() if k not in dropped}
            else:
                out = {n: labels[n] for n in self.grouping if labels.get(n, "")}
            if len(self._out_labels) > 100_000:
                self._out_labels.clear()
            self._out_labels[key] = out
        return out

    def compute(self, ctx: Context) -> Value:
        k_param = self.param.scalar(ctx) if self.param is not None else None
        vec = self.expr.vector(ctx)
        keys = self.group_key.many(vec.labels)
        if keys is self._last_keys:
            members = self._last_members  # the same series in the same groups as last time
        else:
            members = {}
            for i, k in enumerate(keys):
                g = members.get(k)
                if g is None:
                    members[k] = [i]
                else:
                    g.append(i)
            self._last_keys, self._last_members = keys, members
            self._group_labels = None
        op = self.op
        if op in ("topk", "bottomk"):
            assert k_param is not None
            return _top(vec, members.values(), k_param, largest=op == "topk")
        fold = _FOLDS[op]
        values = vec.values
        labels = vec.labels
        out_labels = self._group_labels
        if out_labels is None:
            # The groups' labels, the same list while the groups are.
            out_labels = [self._result_labels(k, labels[idx[0]]) for k, idx in members.items()]
            self._group_labels = out_labels
        if op == "count":
            return Vector(out_labels, [float(len(idx)) for idx in members.values()])
        get = values.__getitem__
        return Vector(out_labels, [fold(list(map(get, idx))) for idx in members.values()])


def _sum(values: list[float]) -> float:
    # Added one after the other, left to right, as Prometheus adds (builtin sum() may compensate).
    return reduce(operator.add, values)


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
    if not any(map(math.isnan, values)):
        return min(values)
    best = values[0]
    for v in values[1:]:
        if best > v or best != best:
            best = v
    return best


def _max(values: list[float]) -> float:
    if not any(map(math.isnan, values)):
        return max(values)
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


def _top(vec: Vector, groups: Iterable[list[int]], k_param: float, *, largest: bool) -> Vector:
    """topk/bottomk with Prometheus' heap, so that ties pick the same series Prometheus picks."""
    if not -(2.0**63) <= k_param < 2.0**63:
        shown = "NaN" if k_param != k_param else ("+Inf" if k_param > 0 else "-Inf")
        raise EvaluationError(f"Scalar value {shown} overflows int64")
    k = min(int(k_param), len(vec))
    if k < 1:
        return EMPTY
    values = vec.values

    def less(a: int, b: int) -> bool:
        x, y = values[a], values[b]
        if x != x and y == y:
            return True
        return x < y if largest else x > y

    out: list[int] = []
    for members in groups:
        heap: list[int] = []
        for i in members:
            if len(heap) < k:
                heap.append(i)
                _up(heap, len(heap) - 1, less)
            elif less(heap[0], i):
                heap[0] = i
                _down(heap, 0, len(heap), less)
        # Prometheus returns each group best first.
        ordered: list[int] = []
        while heap:
            heap[0], heap[-1] = heap[-1], heap[0]
            ordered.append(heap.pop())
            _down(heap, 0, len(heap), less)
        out.extend(reversed(ordered))
    return Vector([vec.labels[i] for i in out], [values[i] for i in out])


def _up(h: list[int], j: int, less: Callable[[int, int], bool]) -> None:
    while j > 0:
        i = (j - 1) // 2
        if not less(h[j], h[i]):
            break
        h[i], h[j] = h[j], h[i]
        j = i


def _down(h: list[int], i: int, n: int, less: Callable[[int, int], bool]) -> None:
    while True:
        j = 2 * i + 1
        if j >= n:
            break
        if j + 1 < n and less(h[j + 1], h[j]):
            j += 1
        if not less(h[j], h[i]):
            break
        h[i], h[j] = h[j], h[i]
        i = j
