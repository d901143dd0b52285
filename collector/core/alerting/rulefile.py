"""Rule files in Prometheus' format, validated the way ``promtool check rules`` validates them.

A file is ``groups:`` of ``name``, optional ``interval`` and ``limit``, and ``rules:`` each with
either ``alert`` (plus ``for``, ``keep_firing_for``, ``labels``, ``annotations``) or ``record``
(plus ``labels``), and ``expr``. Expressions go through the real PromQL parser (``compile_expr``);
one our engine cannot evaluate is refused here, at load time, naming the file, the rule and the
unsupported construct, so a rule never fails silently later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from collector.core.alerting.durations import parse_prometheus_duration
from collector.core.alerting.template import Template, TemplateError
from collector.core.promql import DEFAULT_LOOKBACK, PromQLError, UnsupportedExpression, compile_expr
from collector.core.promql.nodes import merge_reaches
from collector.errors import RuleError

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_GROUP_KEYS = {"name", "interval", "limit", "rules"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


@dataclass(frozen=True)
class AlertingRule:
    """An alerting rule, its expression compiled and its templates parsed."""

    name: str
    expr_text: str
    expr: Any
    hold: float
    keep_firing_for: float
    labels: Mapping[str, Template]
    annotations: Mapping[str, Template]
    file: str
    group: str
    # Identity of the rule across reloads and restarts: file, group, name and which one of that name.
    key: str

    @property
    def static_labels(self) -> dict[str, str]:
        return {k: t.source for k, t in self.labels.items()}


@dataclass(frozen=True)
class RecordingRule:
    """A recording rule: its result is written back into the recent window under ``name``."""

    name: str
    expr_text: str
    expr: Any
    labels: Mapping[str, str]
    file: str
    group: str
    key: str


Rule = AlertingRule | RecordingRule


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: str
    interval: float | None
    limit: int
    rules: tuple[Rule, ...]

    @property
    def key(self) -> str:
        return f"{self.file}|{self.name}"


@dataclass(frozen=True)
class RuleSet:
    """All loaded groups, in file order."""

    groups: tuple[RuleGroup, ...] = ()
    files: tuple[str, ...] = field(default=())

    def rules(self) -> Iterable[Rule]:
        for g in self.groups:
            yield from g.rules

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for r in self.rules() if isinstance(r, AlertingRule)]

    def max_range(self) -> float:
        """The longest stretch of history any rule reads (its widest range or subquery)."""
        return max((float(r.expr.max_range()) for r in self.rules()), default=0.0)

    def reaches(self, lookback: float = DEFAULT_LOOKBACK) -> dict[str | None, float]:
        """How far back the rules read each metric name (under None: any series, for selectors
        that name no metric); a name no rule reads is not in it."""
        return merge_reaches(r.expr.reaches(lookback) for r in self.rules())

    def merged(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.groups + other.groups, self.files + other.files)


def _duration(value: Any, what: str) -> float:
    if isinstance(value, str):
        return parse_prometheus_duration(value.strip())
    raise ValueError(f"{what}: expected a duration like 5m, got {value!r}")


class _Collector:
    """Gathers every problem in a file, so `rules check` can report them all at once."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[RuleError] = []

    def add(self, message: str, rule: str = "") -> None:
        self.errors.append(RuleError(message, file=self.file, rule=rule))


def _compile(text: str, c: _Collector, rule: str) -> Any:
    try:
        return compile_expr(text)
    except UnsupportedExpression as exc:
        c.add(f"unsupported: {exc.name} ({exc})", rule)
    except PromQLError as exc:
        c.add(f"could not parse expression: {exc}", rule)
    return None


def _mapping(value: Any, what: str, c: _Collector, rule: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        c.add(f"{what} must be a mapping of names to strings", rule)
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not _LABEL_NAME.fullmatch(k):
            c.add(f"invalid {what[:-1]} name: {k!r}", rule)
            continue
        if isinstance(v, bool) or v is None or isinstance(v, dict | list):
            c.add(f"{what[:-1]} {k}: expected a string", rule)
            continue
        out[k] = str(v)
    return out


def _templates(values: Mapping[str, str], rule: str, c: _Collector, where: str) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for k, v in values.items():
        try:
            out[k] = Template(v, f"__alert_{rule}")
        except TemplateError as exc:
            c.add(f"{k}: {exc}", where)
    return out


def _rule(node: Any, index: int, group: str, seen: dict[str, int], c: _Collector) -> Rule | None:
    if not isinstance(node, dict):
        c.add(f"group {group}: rule {index + 1} is not a mapping")
        return None
    alert, record = node.get("alert"), node.get("record")
    name = str(alert or record or f"rule {index + 1}")
    where = f"{group}/{name}"
    for key in node:
        if key not in _RULE_KEYS:
            c.add(f"field {key} not found in type rulefmt.RuleNode", where)
    if alert and record:
        c.add("only one of 'record' and 'alert' must be set", where)
        return None
    if not alert and not record:
        c.add("one of 'record' or 'alert' must be set", where)
        return None
    expr_text = node.get("expr")
    if isinstance(expr_text, bool) or not isinstance(expr_text, str | int | float) or not str(expr_text):
        c.add("field 'expr' must be set in rule", where)
        return None
    expr_text = str(expr_text)
    errors_before = len(c.errors)
    expr = _compile(expr_text, c, where)
    labels = _mapping(node.get("labels"), "labels", c, where)
    n = seen.get(name, 0)
    seen[name] = n + 1
    key = f"{c.file}|{group}|{name}|{n}"
    if record:
        if not isinstance(record, str) or not _METRIC_NAME.fullmatch(record):
            c.add(f"invalid recording rule name: {record}", where)
        for bad in ("annotations", "for", "keep_firing_for"):
            if node.get(bad) is not None:
                c.add(f"invalid field '{bad}' in recording rule", where)
        if len(c.errors) > errors_before:
            return None
        return RecordingRule(str(record), expr_text, expr, labels, c.file, group, key)
    hold = keep = 0.0
    try:
        hold = _duration(node["for"], "for") if node.get("for") is not None else 0.0
        if node.get("keep_firing_for") is not None:
            keep = _duration(node["keep_firing_for"], "keep_firing_for")
    except ValueError as exc:
        c.add(str(exc), where)
    annotations = _mapping(node.get("annotations"), "annotations", c, where)
    label_tmpls = _templates(labels, str(alert), c, where)
    annotation_tmpls = _templates(annotations, str(alert), c, where)
    if len(c.errors) > errors_before:
        return None
    return AlertingRule(str(alert), expr_text, expr, hold, keep, label_tmpls, annotation_tmpls,
                        c.file, group, key)


def check_rule_file(text: str, file: str) -> tuple[list[RuleGroup], list[RuleError]]:
    """Parse and validate one rule file's text; returns the groups that loaded and every problem found."""
    c = _Collector(file)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        c.add(f"{where}not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return [], c.errors
    if doc is None:
        return [], []
    if not isinstance(doc, dict) or set(doc) - {"groups"}:
        extra = sorted(set(doc) - {"groups"}) if isinstance(doc, dict) else []
        c.add(f"field {extra[0]} not found in type rulefmt.RuleGroups" if extra else "expected 'groups:'")
        return [], c.errors
    groups_node = doc.get("groups") or []
    if not isinstance(groups_node, list):
        c.add("'groups' must be a list")
        return [], c.errors
    groups: list[RuleGroup] = []
    names: set[str] = set()
    for gi, g in enumerate(groups_node):
        if not isinstance(g, dict):
            c.add(f"group {gi + 1} is not a mapping")
            continue
        gname = g.get("name")
        if not isinstance(gname, str) or not gname:
            c.add("groupname must not be empty")
            continue
        if gname in names:
            c.add(f"groupname: \"{gname}\" is repeated in the same file")
        names.add(gname)
        for key in g:
            if key not in _GROUP_KEYS:
                c.add(f"field {key} not found in type rulefmt.RuleGroup", gname)
        interval = None
        if g.get("interval") is not None:
            try:
                interval = _duration(g["interval"], "interval")
            except ValueError as exc:
                c.add(str(exc), gname)
        limit = g.get("limit") or 0
        if not isinstance(limit, int) or limit < 0:
            c.add("limit must be a non-negative integer", gname)
            limit = 0
        seen: dict[str, int] = {}
        rules = [_rule(r, i, gname, seen, c) for i, r in enumerate(g.get("rules") or [])]
        groups.append(RuleGroup(gname, file, interval, limit, tuple(r for r in rules if r is not None)))
    return groups, c.errors


def parse_rule_file(text: str, file: str) -> list[RuleGroup]:
    """The file's groups, or RuleError for its first problem (a bad file never half-loads)."""
    groups, errors = check_rule_file(text, file)
    if errors:
        raise errors[0]
    return groups


def build_rule_set(files: Iterable[tuple[str, str]]) -> RuleSet:
    """Load ``(path, text)`` pairs into one RuleSet; RuleError on the first bad file."""
    groups: list[RuleGroup] = []
    paths: list[str] = []
    for path, text in files:
        groups.extend(parse_rule_file(text, path))
        paths.append(path)
    return RuleSet(tuple(groups), tuple(paths))
