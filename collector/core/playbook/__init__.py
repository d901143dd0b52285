"""Playbooks, pure: the parser and validator, quoting templates, the sandboxed condition
evaluator, step judging and findings. Data in, data out; the SSH runner lives in
collector/remote and reaches this package only through :class:`StepRunner`.
"""

from __future__ import annotations

from collector.core.playbook.conditions import Condition, ConditionError, compile_condition
from collector.core.playbook.execution import HostOutcome, StepRunner, execute, sudo_wrap
from collector.core.playbook.judge import extract, findings, judge
from collector.core.playbook.model import (
    Capture,
    CommandResult,
    Fetch,
    Finding,
    FindingRule,
    Parameter,
    Playbook,
    Step,
    StepResult,
)
from collector.core.playbook.params import ParameterError, coerce, resolve_parameters
from collector.core.playbook.parser import Problem, check_playbook, parse_playbook
from collector.core.playbook.template import TemplateError, render_command, render_text

__all__ = [
    "Capture", "CommandResult", "Condition", "ConditionError", "Fetch", "Finding", "FindingRule",
    "HostOutcome", "Parameter", "ParameterError", "Playbook", "Problem", "Step", "StepResult",
    "StepRunner", "TemplateError", "check_playbook", "coerce", "compile_condition", "execute",
    "extract", "findings", "judge", "parse_playbook", "render_command", "render_text",
    "resolve_parameters", "sudo_wrap",
]
