"""Parsing, checking, judging and executing playbooks: the pure core with an in-memory runner."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from collector.core.playbook import (
    CommandResult,
    ParameterError,
    check_playbook,
    execute,
    parse_playbook,
    resolve_parameters,
)
from collector.errors import PlaybookError

GOOD = yaml.safe_load(r"""
name: demo
description: a small playbook
parameters:
  path: {type: str, default: /, pattern: '/[A-Za-z0-9_./-]*'}
  top: {type: int, default: 5, min: 1, max: 50}
steps:
  - name: usage
    run: df -P {{ path }}
    timeout: 5s
    capture:
      use: {regex: '(\d+)%', type: int}
      mounts: {regex: '(?P<mount>/\S*)\s*$', type: table}
  - name: largest
    when: use >= 90
    run: du -x {{ path }} | sort -rn | head -n {{ top }}
    capture:
      dirs: {type: lines}
  - name: unexpected
    run: cat /nothing
    expect_exit: [0, 1]
    fail_if: 'Permission denied'
findings:
  - name: full
    when: use >= 90
    severity: critical
    text: "{{ path }} is {{ use }} % full; largest directories: {{ dirs }}"
  - name: mount
    for_each: mounts
    severity: info
    text: "mounted at {{ mount }}"
""")


class FakeRunner:
    def __init__(self, answers: dict[str, CommandResult]) -> None:
        self.answers = answers
        self.commands: list[str] = []

    def run(self, command: str, *, timeout: float, sudo: bool) -> CommandResult:
        self.commands.append(command)
        for prefix, result in self.answers.items():
            if command.startswith(prefix):
                return result
        return CommandResult(127, "not found", 0.01)

    def fetch(self, path: str, *, max_bytes: int, timeout: float) -> CommandResult:
        return CommandResult(0, "file", 0.01)


def test_a_good_playbook_has_no_problems() -> None:
    assert check_playbook(GOOD, file="demo.yaml") == []
    pb = parse_playbook(GOOD, file="demo.yaml")
    assert [s.name for s in pb.steps] == ["usage", "largest", "unexpected"]
    assert pb.steps[0].timeout == 5.0


def _with(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "part", "words"),
    [
        (_with(colour="red"), "", "unknown key 'colour'"),
        (_with(steps__0__retries=3), "usage", "unknown key 'retries'"),
        (_with(steps__0__capture={"use": {"regex": "(\\d+", "type": "int"}}), "usage.capture.use.regex",
         "bad regex"),
        (_with(steps__1__when="usage > 3"), "largest.when", "undefined name 'usage'"),
        (_with(steps__1__run="du {{ nowhere }}"), "largest.run", "undefined name 'nowhere'"),
        (_with(steps__1__run="du '{{ path }}'"), "largest.run", "inside single quotes"),
        (_with(steps__1__when="__import__('os')"), "largest.when", "not allowed"),
        (_with(steps__0__timeout="soon"), "usage.timeout", "not a duration"),
        (_with(findings__0__severity="dire"), "findings.full.severity", "must be one of"),
        (_with(findings__1__for_each="use"), "findings.mount.for_each", "not a table"),
        (_with(parameters={"top": {"type": "int", "default": "many"}}), "parameters.top.default",
         "expected int"),
    ],
)
def test_problems_name_the_part_and_reason(data: dict[str, Any], part: str, words: str) -> None:
    problems = check_playbook(data, file="demo.yaml")
    assert any(p.part == part and words in p.reason for p in problems), problems
    assert all(p.file == "demo.yaml" for p in problems)
    with pytest.raises(PlaybookError):
        parse_playbook(data, file="demo.yaml")


def test_a_capture_is_not_visible_to_its_own_step() -> None:
    data = _with(steps__0__run="df -P {{ use }}")
    assert any("undefined name 'use'" in p.reason for p in check_playbook(data))


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=10,
))
def test_the_checker_never_crashes_on_any_data(data: object) -> None:
    problems = check_playbook(data, file="x.yaml")
    assert problems  # nothing random is a valid playbook: at least name and steps are missing


def test_parameters_are_typed_and_validated() -> None:
    pb = parse_playbook(GOOD)
    assert resolve_parameters(pb, {"top": "7"}) == {"path": "/", "top": 7}
    with pytest.raises(ParameterError, match="at most 50"):
        resolve_parameters(pb, {"top": "99"})
    with pytest.raises(ParameterError, match="does not match"):
        resolve_parameters(pb, {"path": "/; touch /tmp/pwned"})
    with pytest.raises(ParameterError, match="no such parameter"):
        resolve_parameters(pb, {"colour": "red"})


def test_execution_captures_judges_and_finds() -> None:
    pb = parse_playbook(GOOD)
    runner = FakeRunner({
        "df -P": CommandResult(0, "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                                  "/dev/sda1 100 93 7 93% /var\n", 0.1),
        "du -x": CommandResult(0, "900 /var/log\n80 /var/lib\n", 0.2),
        "cat /nothing": CommandResult(1, "cat: /nothing: Permission denied", 0.01),
    })
    out = execute(pb, {"path": "/var", "top": 2}, runner, context={"host": "h1"})
    assert runner.commands[1] == "du -x /var | sort -rn | head -n 2"
    assert [s.verdict for s in out.steps] == ["passed", "passed", "failed"]
    assert out.steps[2].reason == "output matches 'Permission denied'"
    assert out.values["use"] == 93
    assert out.values["mounts"] == [{"mount": "/var"}]
    texts = [f.text for f in out.findings]
    assert "/var is 93 % full; largest directories: 900 /var/log, 80 /var/lib" in texts
    assert "mounted at /var" in texts
    mount = next(f for f in out.findings if f.name == "mount")
    assert mount.values == {"mount": "/var"}
    assert out.verdict == "failed"


def test_a_false_condition_skips_the_step_and_its_finding() -> None:
    pb = parse_playbook(GOOD)
    runner = FakeRunner({"df -P": CommandResult(0, "/dev/sda1 100 12 88 12% /\n", 0.1),
                         "cat": CommandResult(0, "", 0.0)})
    out = execute(pb, {"path": "/", "top": 5}, runner)
    assert [s.verdict for s in out.steps] == ["passed", "skipped", "passed"]
    assert not any(c.startswith("du") for c in runner.commands)
    assert [f.name for f in out.findings] == ["mount"]
    assert out.verdict == "passed"


def test_timeouts_and_errors_are_verdicts() -> None:
    pb = parse_playbook(GOOD)
    runner = FakeRunner({"df -P": CommandResult(None, "", 5.0, timed_out=True),
                         "cat": CommandResult(None, "", 0.0, error="connection lost")})
    out = execute(pb, {"path": "/", "top": 5}, runner)
    assert [s.verdict for s in out.steps] == ["timeout", "skipped", "error"]
