"""Reading a playbook from its YAML mapping, and checking it as a whole.

:func:`check_playbook` reports every problem it finds, each with the file, the step
(or part) and the reason: unknown keys, missing keys, wrong types, regexes that do
not compile, conditions outside the allowed language, placeholders that would not be
quoted safely, and names used before anything defines them. :func:`parse_playbook`
returns the playbook or raises :class:`PlaybookError` with the first problem.

The YAML is decoded by the caller (the shell reads files); this module only sees data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.config.types import parse_duration, parse_size
from collector.core.playbook.conditions import Condition, ConditionError, compile_condition
from collector.core.playbook.model import (
    BUILTIN_NAMES,
    SEVERITIES,
    Capture,
    Fetch,
    FindingRule,
    Parameter,
    Playbook,
    Step,
)
from collector.core.playbook.params import ParameterError, coerce
from collector.core.playbook.template import TemplateError, check_command, check_text, names_in
from collector.errors import PlaybookError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_TOP_KEYS = {"name", "description", "parameters", "steps", "findings"}
_PARAM_KEYS = {"type", "default", "required", "description", "pattern", "choices", "min", "max"}
_STEP_KEYS = {
    "name", "description", "run", "fetch", "timeout", "sudo", "expect_exit", "pass_if", "fail_if",
    "capture", "when", "stop_on_failure",
}
_CAPTURE_KEYS = {"regex", "type", "group", "default", "columns", "limit"}
_FETCH_KEYS = {"path", "max_bytes"}
_FINDING_KEYS = {"name", "severity", "text", "when", "for_each", "values"}
_PARAM_TYPES = {"str": str, "int": int, "float": float, "bool": bool}
_CAPTURE_TYPES = {"str", "int", "float", "bool", "list", "lines", "table"}
_COLUMN_TYPES = {"str", "int", "float"}
MAX_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a playbook: where (file, part) and why."""

    file: str
    part: str
    reason: str

    def __str__(self) -> str:
        where = ":".join(p for p in (self.file, self.part) if p)
        return f"{where}: {self.reason}" if where else self.reason


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, part: str, reason: str) -> None:
        self.problems.append(Problem(self.file, part, reason))

    def unknown_keys(self, part: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.add(part, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")

    def regex(self, part: str, text: Any) -> re.Pattern[str] | None:
        if not isinstance(text, str):
            self.add(part, "a regex must be a string")
            return None
        try:
            return re.compile(text, re.MULTILINE)
        except re.error as exc:
            self.add(part, f"bad regex {text!r}: {exc}")
            return None

    def condition(self, part: str, text: Any, known: set[str]) -> Condition | None:
        try:
            cond = compile_condition(text)
        except ConditionError as exc:
            self.add(part, f"condition {text!r}: {exc}")
            return None
        for name in sorted(cond.names - known):
            self.add(part, f"condition uses undefined name {name!r}")
        return cond


def check_playbook(data: Any, *, file: str = "") -> list[Problem]:
    """Every problem in the playbook ``data`` (an empty list when it is valid)."""
    return _build(data, file)[1]


def parse_playbook(data: Any, *, file: str = "") -> Playbook:
    """The playbook in ``data``, or PlaybookError naming the file, part and first problem."""
    playbook, problems = _build(data, file)
    if problems or playbook is None:
        first = problems[0]
        raise PlaybookError(first.reason, file=first.file, step=first.part)
    return playbook


def _build(data: Any, file: str) -> tuple[Playbook | None, list[Problem]]:
    c = _Collector(file)
    if not isinstance(data, Mapping):
        c.add("", "a playbook must be a mapping")
        return None, c.problems
    c.unknown_keys("", data, _TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        c.add("name", "required: lower-case letters, digits, - or _ (e.g. disk-usage)")
        name = ""
    description = data.get("description", "")
    if not isinstance(description, str):
        c.add("description", "must be a string")
        description = ""
    params = _parameters(c, data.get("parameters") or {})
    known = set(BUILTIN_NAMES) | {p.name for p in params}
    steps = _steps(c, data.get("steps"), known)
    findings = _findings(c, data.get("findings") or [], known, steps)
    playbook = Playbook(
        name=name, description=description.strip(), parameters=tuple(params),
        steps=tuple(steps), findings=tuple(findings), source=file,
    )
    return playbook, c.problems


def _parameters(c: _Collector, raw: Any) -> list[Parameter]:
    if not isinstance(raw, Mapping):
        c.add("parameters", "must be a mapping of name to settings")
        return []
    out: list[Parameter] = []
    for pname, spec in raw.items():
        part = f"parameters.{pname}"
        if not isinstance(pname, str) or not _IDENT.match(pname) or pname in BUILTIN_NAMES:
            c.add(part, "a parameter name is letters, digits and _ and not host/customer/address")
            continue
        spec = {} if spec is None else spec
        if not isinstance(spec, Mapping):
            c.add(part, "must be a mapping (type, default, ...)")
            continue
        c.unknown_keys(part, spec, _PARAM_KEYS)
        ptype = spec.get("type", "str")
        if ptype not in _PARAM_TYPES:
            c.add(part, f"type must be one of {', '.join(_PARAM_TYPES)}")
            continue
        pattern = c.regex(f"{part}.pattern", spec["pattern"]) if "pattern" in spec else None
        choices = spec.get("choices", [])
        if not isinstance(choices, list):
            c.add(f"{part}.choices", "must be a list")
            choices = []
        bounds: list[float | None] = []
        for key in ("min", "max"):
            v = spec.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                c.add(f"{part}.{key}", "must be a number")
                v = None
            bounds.append(v)
        param = Parameter(
            name=pname, type=ptype, required=bool(spec.get("required", False)),
            description=str(spec.get("description", "")), pattern=pattern, choices=tuple(choices),
            minimum=bounds[0], maximum=bounds[1],
        )
        if "default" in spec and spec["default"] is not None:
            try:
                param = Parameter(**{**param.__dict__, "default": coerce(param, spec["default"])})
            except ParameterError as exc:
                c.add(f"{part}.default", str(exc))
        out.append(param)
    return out


def _timeout(c: _Collector, part: str, raw: Any) -> float:
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        c.add(part, str(exc))
        return 30.0
    if not 0 < value <= MAX_TIMEOUT:
        c.add(part, f"must be more than 0 and at most {MAX_TIMEOUT:g}s")
    return value


def _steps(c: _Collector, raw: Any, known: set[str]) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        c.add("steps", "required: a list of steps")
        return []
    out: list[Step] = []
    seen: set[str] = set()
    for i, spec in enumerate(raw):
        if not isinstance(spec, Mapping):
            c.add(f"steps.{i}", "a step must be a mapping")
            continue
        sname = spec.get("name")
        if not isinstance(sname, str) or not _NAME.match(sname):
            c.add(f"steps.{i}", "name is required: lower-case letters, digits, - or _")
            sname = f"step-{i}"
        elif sname in seen:
            c.add(sname, "another step has the same name")
        seen.add(sname)
        c.unknown_keys(sname, spec, _STEP_KEYS)
        when = c.condition(f"{sname}.when", spec["when"], known) if "when" in spec else None
        run = spec.get("run")
        fetch = None
        if ("run" in spec) == ("fetch" in spec):
            c.add(sname, "a step has exactly one of run or fetch")
        elif run is not None:
            if not isinstance(run, str) or not run.strip():
                c.add(f"{sname}.run", "must be a non-empty command")
                run = None
            else:
                _check_names(c, f"{sname}.run", run, known, command=True)
        else:
            fetch = _fetch(c, sname, spec["fetch"], known)
        expect = spec.get("expect_exit", 0)
        expect_list = expect if isinstance(expect, list) else [expect]
        if not expect_list or not all(isinstance(e, int) and not isinstance(e, bool) for e in expect_list):
            c.add(f"{sname}.expect_exit", "must be an exit code or a list of exit codes")
            expect_list = [0]
        patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
        for key in ("pass_if", "fail_if"):
            items = spec.get(key, [])
            items = [items] if isinstance(items, str) else items
            if not isinstance(items, list):
                c.add(f"{sname}.{key}", "must be a regex or a list of regexes")
                items = []
            patterns[key] = tuple(p for p in (c.regex(f"{sname}.{key}", x) for x in items) if p)
        for flag in ("sudo", "stop_on_failure"):
            if flag in spec and not isinstance(spec[flag], bool):
                c.add(f"{sname}.{flag}", "must be true or false")
        captures = _captures(c, sname, spec.get("capture") or {}, known)
        out.append(Step(
            name=sname, run=run if isinstance(run, str) else None, fetch=fetch,
            timeout=_timeout(c, f"{sname}.timeout", spec.get("timeout", 30)),
            sudo=spec.get("sudo") is True, expect_exit=tuple(expect_list),
            pass_if=patterns["pass_if"], fail_if=patterns["fail_if"], captures=tuple(captures),
            when=when, stop_on_failure=spec.get("stop_on_failure") is True,
            description=str(spec.get("description", "")),
        ))
        # Captured names become readable by the steps after this one, not by this one.
        known.update(cap.name for cap in captures)
    return out


def _check_names(c: _Collector, part: str, template: str, known: set[str], *, command: bool) -> None:
    try:
        check_command(template) if command else check_text(template)
    except TemplateError as exc:
        c.add(part, str(exc))
        return
    for name in names_in(template):
        if name not in known:
            c.add(part, f"template uses undefined name {name!r}")


def _fetch(c: _Collector, sname: str, spec: Any, known: set[str]) -> Fetch | None:
    part = f"{sname}.fetch"
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("path"), str) or not spec["path"]:
        c.add(part, "needs a path (a string or {path, max_bytes})")
        return None
    c.unknown_keys(part, spec, _FETCH_KEYS)
    _check_names(c, f"{part}.path", spec["path"], known, command=False)
    try:
        cap = parse_size(spec.get("max_bytes", 1_000_000))
    except ValueError as exc:
        c.add(f"{part}.max_bytes", str(exc))
        cap = 1_000_000
    if cap <= 0:
        c.add(f"{part}.max_bytes", "must be positive")
    return Fetch(path=spec["path"], max_bytes=cap)


def _captures(c: _Collector, sname: str, raw: Any, known: set[str]) -> list[Capture]:
    if not isinstance(raw, Mapping):
        c.add(f"{sname}.capture", "must be a mapping of name to {regex, type, ...}")
        return []
    out: list[Capture] = []
    for cname, spec in raw.items():
        part = f"{sname}.capture.{cname}"
        if not isinstance(cname, str) or not _IDENT.match(cname) or cname in BUILTIN_NAMES:
            c.add(part, "a capture name is letters, digits and _ (not host/customer/address)")
            continue
        if isinstance(spec, str):
            spec = {"regex": spec}
        if not isinstance(spec, Mapping):
            c.add(part, "must be a regex or a mapping {regex, type, ...}")
            continue
        c.unknown_keys(part, spec, _CAPTURE_KEYS)
        ctype = spec.get("type", "str")
        if ctype not in _CAPTURE_TYPES:
            c.add(f"{part}.type", f"must be one of {', '.join(sorted(_CAPTURE_TYPES))}")
            continue
        regex = c.regex(f"{part}.regex", spec["regex"]) if "regex" in spec else None
        if regex is None and "regex" not in spec and ctype != "lines":
            c.add(part, "needs a regex (only type lines may go without)")
        group = spec.get("group", 1 if regex is not None and regex.groups else 0)
        if regex is not None and ctype not in {"table", "lines"}:
            if isinstance(group, int) and not 0 <= group <= regex.groups:
                c.add(f"{part}.group", f"the regex has {regex.groups} group(s)")
            elif isinstance(group, str) and group not in regex.groupindex:
                c.add(f"{part}.group", f"the regex has no group named {group!r}")
        if ctype == "table" and regex is not None and not regex.groupindex:
            c.add(f"{part}.regex", "a table capture needs named groups (?P<name>...)")
        columns = spec.get("columns", {})
        if not isinstance(columns, Mapping) or any(v not in _COLUMN_TYPES for v in columns.values()):
            c.add(f"{part}.columns", "must map group names to str, int or float")
            columns = {}
        elif regex is not None and any(k not in regex.groupindex for k in columns):
            c.add(f"{part}.columns", "names a group the regex does not have")
        limit = spec.get("limit", 1000)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            c.add(f"{part}.limit", "must be a positive integer")
            limit = 1000
        out.append(Capture(
            name=cname, type=ctype, regex=regex, group=group, default=spec.get("default"),
            columns=tuple(columns.items()), limit=limit,
        ))
    return out


def _findings(c: _Collector, raw: Any, known: set[str], steps: list[Step]) -> list[FindingRule]:
    if not isinstance(raw, list):
        c.add("findings", "must be a list")
        return []
    tables = {cap.name: cap for s in steps for cap in s.captures if cap.type == "table"}
    out: list[FindingRule] = []
    for i, spec in enumerate(raw):
        if not isinstance(spec, Mapping):
            c.add(f"findings.{i}", "a finding must be a mapping")
            continue
        fname = spec.get("name")
        part = f"findings.{fname}" if isinstance(fname, str) else f"findings.{i}"
        if not isinstance(fname, str) or not _NAME.match(fname):
            c.add(part, "name is required: lower-case letters, digits, - or _")
            fname = f"finding-{i}"
        c.unknown_keys(part, spec, _FINDING_KEYS)
        severity = spec.get("severity")
        if severity not in SEVERITIES:
            c.add(f"{part}.severity", f"must be one of {', '.join(SEVERITIES)}")
            severity = "info"
        scope = set(known)
        for_each = spec.get("for_each")
        if for_each is not None:
            if for_each not in tables:
                c.add(f"{part}.for_each", f"{for_each!r} is not a table capture")
            else:
                regex = tables[for_each].regex
                scope |= set(regex.groupindex) if regex is not None else set()
        text = spec.get("text")
        if not isinstance(text, str) or not text.strip():
            c.add(f"{part}.text", "required: the finding's text")
            text = ""
        else:
            _check_names(c, f"{part}.text", text, scope, command=False)
        when = c.condition(f"{part}.when", spec["when"], scope) if "when" in spec else None
        values = spec.get("values", [])
        if not isinstance(values, list) or any(v not in scope for v in values):
            c.add(f"{part}.values", "must list defined names")
            values = []
        out.append(FindingRule(
            name=fname, severity=severity, text=text.strip(), when=when, for_each=for_each,
            values=tuple(values),
        ))
    return out
