"""Carrying out a playbook's steps on one host through a runner the shell provides.

The runner is a small seam (:class:`StepRunner`): the SSH connection in production, an
in-memory one in tests. This module decides what to run, in which order, with which
values, and what the results mean; it never talks to a host itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from collector.core.playbook.judge import findings, judge, skipped
from collector.core.playbook.model import CommandResult, Finding, Playbook, Step, StepResult
from collector.core.playbook.template import render_command, render_text


class StepRunner(Protocol):
    def run(self, command: str, *, timeout: float, sudo: bool) -> CommandResult:
        """Run ``command`` (already quoted) on the host; never raise for the command's own failure."""
        ...

    def fetch(self, path: str, *, max_bytes: int, timeout: float) -> CommandResult:
        """Read up to ``max_bytes`` of the file at ``path``; its text is the result's output."""
        ...


@dataclass
class HostOutcome:
    """What one host's run produced: each step's result, the values captured, the findings."""

    steps: list[StepResult] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """passed when no step failed, failed otherwise (skipped steps do not count)."""
        bad = [s for s in self.steps if s.verdict in {"failed", "timeout", "error"}]
        return "failed" if bad else "passed"


def sudo_wrap(command: str) -> str:
    """The command run through non-interactive sudo: it fails instead of asking for a password."""
    from shlex import quote

    return f"sudo -n -- sh -c {quote(command)}"


def execute(
    playbook: Playbook,
    params: Mapping[str, Any],
    runner: StepRunner,
    *,
    context: Mapping[str, Any] | None = None,
    on_step: Callable[[StepResult], None] | None = None,
) -> HostOutcome:
    """Run ``playbook`` through ``runner`` with resolved ``params`` and ``context`` (host, customer)."""
    outcome = HostOutcome(values={**(context or {}), **params})
    for step in playbook.steps:
        result = _one(step, outcome.values, runner)
        outcome.steps.append(result)
        outcome.values.update(result.captured)
        if on_step is not None:
            on_step(result)
        if step.stop_on_failure and result.verdict in {"failed", "timeout", "error"}:
            break
    outcome.findings = findings(playbook, outcome.values)
    return outcome


def _one(step: Step, values: Mapping[str, Any], runner: StepRunner) -> StepResult:
    if step.when is not None and not step.when.evaluate(values):
        return skipped(step)
    if step.fetch is not None:
        path = render_text(step.fetch.path, values)
        result = runner.fetch(path, max_bytes=step.fetch.max_bytes, timeout=step.timeout)
        return judge(step, f"fetch {path}", result)
    assert step.run is not None
    command = render_command(step.run, values)
    return judge(step, command, runner.run(command, timeout=step.timeout, sudo=step.sudo))
