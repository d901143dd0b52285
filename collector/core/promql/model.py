"""The values a PromQL expression yields, and the errors compiling or evaluating one raises.

    PromQLError                 a syntax error, or an expression that cannot be evaluated
    ├── UnsupportedExpression   valid PromQL that this engine refuses (``name`` says what)
    └── EvaluationError         a query that Prometheus would also refuse at evaluation time
                                (duplicate label sets, many-to-many matching)
"""

from __future__ import annotations

from collector.errors import UpkeepError

LabelKey = tuple[tuple[str, str], ...]


class PromQLError(UpkeepError):
    """An expression that cannot be compiled or evaluated; the message says where and why."""


class UnsupportedExpression(PromQLError):
    """Valid PromQL that the collector's engine does not evaluate; ``name`` is the function or feature."""

    def __init__(self, name: str, expr: str = "") -> None:
        self.name = name
        self.expr = expr
        where = f" in {expr!r}" if expr else ""
        super().__init__(f"unsupported PromQL{where}: {name} (evaluate this rule in Prometheus instead)")


class EvaluationError(PromQLError):
    """An evaluation that Prometheus refuses too, such as a result holding one label set twice."""


class Sample:
    """One element of an instant vector: a label set (``__name__`` included where PromQL keeps it)
    and a value."""

    __slots__ = ("labels", "value")

    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.labels = labels
        self.value = value

    def __repr__(self) -> str:
        return f"Sample({self.labels!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sample):
            return NotImplemented
        same_value = self.value == other.value or (self.value != self.value and other.value != other.value)
        return self.labels == other.labels and same_value

    __hash__ = None  # type: ignore[assignment]


InstantVector = list[Sample]


def label_key(labels: dict[str, str]) -> LabelKey:
    """The canonical, hashable and orderable form of a label set."""
    return tuple(sorted(labels.items()))


def format_labels(labels: dict[str, str]) -> str:
    """A label set in PromQL notation: ``name{a="b"}``."""
    name = labels.get("__name__", "")
    inner = ", ".join(
        f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()) if k != "__name__"
    )
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
