"""Judging a step from what its command returned, and turning captures into findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.core.playbook.model import (
    Capture,
    CommandResult,
    Finding,
    Playbook,
    Step,
    StepResult,
)
from collector.core.playbook.template import render_text

_TRUE = {"1", "true", "yes", "on", "active", "y"}


def _convert(kind: str, text: str | None) -> Any:
    if text is None:
        return None
    text = text.strip()
    try:
        if kind == "int":
            return int(float(text)) if "." in text else int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        return None
    if kind == "bool":
        return text.lower() in _TRUE
    return text


def extract(capture: Capture, output: str) -> Any:
    """The capture's typed value in ``output``, or its default when the regex finds nothing."""
    regex = capture.regex
    if capture.type == "lines":
        lines = [ln for ln in output.splitlines() if ln.strip() and (regex is None or regex.search(ln))]
        return lines[: capture.limit]
    assert regex is not None
    if capture.type == "table":
        columns = dict(capture.columns)
        rows = [
            {k: _convert(columns.get(k, "str"), v) for k, v in m.groupdict().items()}
            for m in regex.finditer(output)
        ]
        return rows[: capture.limit] if rows else (capture.default if capture.default is not None else [])
    if capture.type == "list":
        items = [m.group(capture.group) for m in regex.finditer(output)]
        return [i.strip() for i in items if i is not None][: capture.limit]
    m = regex.search(output)
    if m is None or m.group(capture.group) is None:
        if capture.type == "bool" and capture.default is None:
            return False
        return capture.default
    if capture.type == "bool":
        # A bool capture states whether the pattern was seen, unless its group says otherwise.
        return True if capture.group == 0 else _convert("bool", m.group(capture.group))
    value = _convert(capture.type, m.group(capture.group))
    return capture.default if value is None else value


def judge(step: Step, command: str, result: CommandResult) -> StepResult:
    """The step's verdict and captured values from its command's result."""
    captured = {cap.name: extract(cap, result.output) for cap in step.captures}
    common = {
        "step": step.name, "command": command, "exit_code": result.exit_code,
        "duration": result.duration, "output": result.output, "captured": captured,
        "truncated": result.truncated,
    }
    if result.timed_out:
        return StepResult(verdict="timeout", reason=f"no answer within {step.timeout:g}s", **common)
    if result.error:
        return StepResult(verdict="error", reason=result.error, **common)
    if result.exit_code not in step.expect_exit:
        expected = " or ".join(str(e) for e in step.expect_exit)
        reason = f"exit code {result.exit_code}, expected {expected}"
        return StepResult(verdict="failed", reason=reason, **common)
    for pattern in step.fail_if:
        if pattern.search(result.output):
            return StepResult(verdict="failed", reason=f"output matches {pattern.pattern!r}", **common)
    for pattern in step.pass_if:
        if not pattern.search(result.output):
            return StepResult(verdict="failed", reason=f"output lacks {pattern.pattern!r}", **common)
    return StepResult(verdict="passed", **common)


def skipped(step: Step) -> StepResult:
    """A step whose condition was false: its captures take their defaults."""
    captured = {cap.name: extract(cap, "") for cap in step.captures}
    return StepResult(step=step.name, command="", verdict="skipped", captured=captured,
                      reason=f"condition {step.when.source!r} is false" if step.when else "")


def findings(playbook: Playbook, values: Mapping[str, Any]) -> list[Finding]:
    """The findings whose conditions hold over ``values`` (one per matching row for for_each)."""
    out: list[Finding] = []
    for rule in playbook.findings:
        if rule.for_each is not None:
            rows = values.get(rule.for_each) or []
            scopes = [{**values, **row} for row in rows if isinstance(row, dict)]
        else:
            scopes = [dict(values)]
        for scope in scopes:
            if rule.when is not None and not rule.when.evaluate(scope):
                continue
            names = rule.values
            if not names and rule.for_each:
                # A row's finding carries the row, so a report can show it as structured data.
                names = tuple(sorted(scope.keys() - values.keys()))
            out.append(Finding(
                name=rule.name, severity=rule.severity, text=render_text(rule.text, scope),
                values={n: scope.get(n) for n in names},
            ))
    return out
