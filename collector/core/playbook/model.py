"""The playbook's parts, as frozen values the parser builds and the runner reads.

    Playbook        name, description, parameters, steps, findings
    ├── Parameter   a typed input with a default and validation (pattern, choices, bounds)
    ├── Step        one command (or one file fetch) with its timeout, sudo, expectations,
    │   │           captures and an optional condition
    │   ├── Capture a value taken from the step's output by a regex, typed
    │   └── Fetch   a file read over SFTP, up to a size cap
    └── FindingRule a condition over captured values that yields a Finding (severity, text)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from collector.core.playbook.conditions import Condition

ParamType = Literal["str", "int", "float", "bool"]
CaptureType = Literal["str", "int", "float", "bool", "list", "lines", "table"]
Severity = Literal["ok", "info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("ok", "info", "warning", "critical")

# Names every template and condition may read besides parameters and captures.
BUILTIN_NAMES = frozenset({"host", "customer", "address"})


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParamType = "str"
    default: Any = None
    required: bool = False
    description: str = ""
    pattern: re.Pattern[str] | None = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Capture:
    name: str
    type: CaptureType = "str"
    regex: re.Pattern[str] | None = None
    group: int | str = 1
    default: Any = None
    # table: converts these named groups; lines/list: keeps at most this many.
    columns: tuple[tuple[str, str], ...] = ()
    limit: int = 1000


@dataclass(frozen=True)
class Fetch:
    path: str
    max_bytes: int = 1_000_000


@dataclass(frozen=True)
class Step:
    name: str
    run: str | None = None
    fetch: Fetch | None = None
    timeout: float = 30.0
    sudo: bool = False
    expect_exit: tuple[int, ...] = (0,)
    pass_if: tuple[re.Pattern[str], ...] = ()
    fail_if: tuple[re.Pattern[str], ...] = ()
    captures: tuple[Capture, ...] = ()
    when: Condition | None = None
    # Diagnosis gathers what it can: a failed step stops the run only when asked to.
    stop_on_failure: bool = False
    description: str = ""


@dataclass(frozen=True)
class FindingRule:
    name: str
    severity: Severity
    text: str
    when: Condition | None = None
    for_each: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    steps: tuple[Step, ...] = ()
    findings: tuple[FindingRule, ...] = ()
    source: str = ""

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


# -- results ---------------------------------------------------------------------------------

Verdict = Literal["passed", "failed", "skipped", "timeout", "error"]


@dataclass(frozen=True)
class CommandResult:
    """What a runner reports for one command or fetch."""

    exit_code: int | None
    output: str
    duration: float
    truncated: bool = False
    timed_out: bool = False
    error: str = ""


@dataclass(frozen=True)
class StepResult:
    step: str
    command: str
    verdict: Verdict
    exit_code: int | None = None
    duration: float = 0.0
    output: str = ""
    captured: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    truncated: bool = False


@dataclass(frozen=True)
class Finding:
    name: str
    severity: Severity
    text: str
    values: dict[str, Any] = field(default_factory=dict)
