"""A sandboxed evaluator for playbook conditions (``when:``).

A condition is a Python-looking expression parsed with :mod:`ast` and walked over an
allow-list of node types: comparisons (``==``, ``<``, ``in``, ...), ``and``/``or``/``not``,
names, constants, lists/tuples of those, and the four arithmetic operators on numbers.
Nothing is ever handed to ``eval`` or ``exec``: attribute access, calls, subscripts,
lambdas and comprehensions are rejected when the condition is compiled, so a playbook
author cannot reach anything but the values given to :meth:`Condition.evaluate`.

At run time a comparison that Python would refuse (``None > 3``, ``"a" < 1``) is false
rather than an error: a value a step failed to capture makes its condition false.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_MAX_LENGTH = 1000


class ConditionError(ValueError):
    """A condition that is not in the allowed language (the message says which part)."""


@dataclass(frozen=True)
class Condition:
    """A compiled condition: its source text and the names it reads."""

    source: str
    names: frozenset[str]
    _tree: ast.Expression

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """True when the condition holds over ``values``; a missing name reads as None."""
        try:
            return bool(_eval(self._tree.body, values))
        except (TypeError, ZeroDivisionError, OverflowError):
            return False


def compile_condition(source: str) -> Condition:
    """Parse and check ``source`` against the allow-list, or raise ConditionError."""
    if not isinstance(source, str) or not source.strip():
        raise ConditionError("a condition must be a non-empty string")
    if len(source) > _MAX_LENGTH:
        raise ConditionError(f"a condition is limited to {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"not a valid expression: {exc.msg}") from None
    names: set[str] = set()
    _check(tree.body, names)
    return Condition(source=source, names=frozenset(names), _tree=tree)


def _check(node: ast.AST, names: set[str]) -> None:
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, names)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub):
            raise ConditionError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.operand, names)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ConditionError(f"comparison {type(op).__name__} is not allowed")
        _check(node.left, names)
        for c in node.comparators:
            _check(c, names)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise ConditionError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.left, names)
        _check(node.right, names)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ConditionError(f"name {node.id!r} is not allowed")
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise ConditionError("only strings, numbers, booleans and None are allowed as constants")
    elif isinstance(node, ast.List | ast.Tuple):
        for e in node.elts:
            _check(e, names)
    else:
        raise ConditionError(f"{type(node).__name__} is not allowed in a condition")


def _number(value: Any) -> int | float:
    # bool is an int to Python, but True + 1 in a condition is a mistake, not arithmetic.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("arithmetic needs numbers")
    return value


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = _eval(v, values)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = _eval(v, values)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        return (not operand) if isinstance(node.op, ast.Not) else -_number(operand)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        return _ARITH[type(node.op)](_number(_eval(node.left, values)), _number(_eval(node.right, values)))
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, values) for e in node.elts]
    raise TypeError(f"{type(node).__name__} escaped the check")  # pragma: no cover - _check rejects it
