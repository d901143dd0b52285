"""The sandboxed condition evaluator and the quoting templates."""

from __future__ import annotations

import contextlib
import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.playbook.conditions import ConditionError, compile_condition
from collector.core.playbook.template import TemplateError, check_command, render_command, render_text


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("use >= 90", {"use": 93}, True),
        ("use >= 90", {"use": 12}, False),
        ("use >= 90", {}, False),  # a value never captured makes the condition false
        ("state in ['failed', 'dead'] and not masked", {"state": "dead", "masked": False}, True),
        ("name not in ('a', 'b') or count > 1", {"name": "a", "count": 2}, True),
        ("avail / total < 0.1", {"avail": 5, "total": 100}, True),
        ("avail / total < 0.1", {"avail": 5, "total": 0}, False),
        ("1 < x <= 3", {"x": 3}, True),
        ("tool is None", {}, True),
        ("-x > 0", {"x": -1}, True),
    ],
)
def test_conditions_evaluate(source: str, values: dict[str, object], expected: bool) -> None:
    assert compile_condition(source).evaluate(values) is expected


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('id')",
        "x.__class__",
        "open('/etc/passwd')",
        "x[0]",
        "[y for y in x]",
        "lambda: 1",
        "2 ** 1000000",
        "_secret == 1",
        "x if y else z",
        "f'{x}'",
        "x = 1",
    ],
)
def test_conditions_refuse_anything_outside_the_allow_list(source: str) -> None:
    with pytest.raises(ConditionError):
        compile_condition(source)


def test_condition_names_are_reported() -> None:
    assert compile_condition("a > 1 and b in c").names == {"a", "b", "c"}


def test_arithmetic_on_strings_is_false_not_an_explosion() -> None:
    assert compile_condition("x * 3 == 'aaa'").evaluate({"x": "a"}) is False


HOSTILE = [
    "; touch /tmp/pwned",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "a\ntouch /tmp/pwned",
    "'; touch /tmp/pwned; '",
    '"; touch /tmp/pwned; "',
    "x' \"$(touch /tmp/pwned)\" 'y",
    "--help",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_rendered_values_are_one_shell_word(value: str) -> None:
    command = render_command("printf '%s\\n' {{ v }} end", {"v": value})
    assert shlex.split(command) == ["printf", "%s\\n", value, "end"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_any_value_reaches_a_real_shell_unchanged(value: str) -> None:
    command = render_command("printf '%s' {{ v }}", {"v": value})
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=True).stdout
    assert out == value.encode("utf-8", errors="surrogateescape")


def test_lists_become_several_quoted_words() -> None:
    command = render_command("ls {{ paths }}", {"paths": ["/a b", "$(x)"]})
    assert shlex.split(command) == ["ls", "/a b", "$(x)"]


@pytest.mark.parametrize(
    "template",
    [
        "echo '{{ v }}'",
        'echo "{{ v }}"',
        "echo \\{{ v }}",
        "echo hi # {{ v }}",
        "eval {{ v }}",
        "sh -c {{ v }}",
        "[[ {{ v }} -eq 1 ]]",
        "echo $(( {{ v }} + 1 ))",
        "cat <<EOF\n{{ v }}\nEOF",
        "echo $'\\'{{ v }}'",
        "echo {{ v }",
        "echo 'unbalanced {{ v }}",
    ],
)
def test_unsafe_placements_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        check_command(template)


@pytest.mark.parametrize(
    "template",
    ["df -P {{ path }}", "du -x {{ path }} 2>/dev/null | sort -rn | head -n {{ n }}",
     "echo 'fixed text' {{ v }} \"more\"", "x=$(cat {{ f }}); echo \"$x\""],
)
def test_safe_placements_pass(template: str) -> None:
    check_command(template)


def test_text_rendering_is_for_people() -> None:
    text = render_text("{{ mount }} is {{ use }} % full; largest: {{ dirs }}",
                       {"mount": "/var", "use": 93, "dirs": ["/var/log", "/var/lib"]})
    assert text == "/var is 93 % full; largest: /var/log, /var/lib"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abxy_ 0123456789.'\"()[]<>=!+-*/%&|~^@,:;{}\\\nandornotin", max_size=40),
       st.dictionaries(st.sampled_from(["a", "b", "x", "y"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)
                       | st.lists(st.integers(), max_size=3)))
def test_any_condition_text_evaluates_to_a_bool_or_is_refused(source: str, values: dict[str, object]) -> None:
    try:
        condition = compile_condition(source)
    except ConditionError:
        return
    assert condition.evaluate(values) in {True, False}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_the_command_checker_only_ever_refuses_with_a_template_error(template: str) -> None:
    with contextlib.suppress(TemplateError):
        check_command(template)
