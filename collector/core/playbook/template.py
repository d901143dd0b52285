"""Filling commands from parameters and captured values, always quoted.

A command template names values as ``{{ name }}``. Each value reaches the remote shell
through :func:`shlex.quote`, as one word (a list becomes several quoted words), never
spliced, whatever it contains. For that promise to hold the placeholder must stand where
the shell reads a fresh word: :func:`check_command` refuses placeholders inside quotes or
comments, after a backslash, and in commands using constructs that parse a word twice,
where the quotes the value arrives in would not be honoured.

Texts for people (finding texts, file paths fetched over SFTP) use the same placeholders
rendered without shell quoting by :func:`render_text`: they never meet a shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
_ANY_BRACES = re.compile(r"\{\{|\}\}")


class TemplateError(ValueError):
    """A template that cannot be filled safely (the message says why)."""


def names_in(template: str) -> list[str]:
    """The names a template reads, in order of appearance."""
    return [m.group(1) for m in PLACEHOLDER.finditer(template)]


def check_text(template: str) -> None:
    """Raise TemplateError for a stray ``{{`` or ``}}`` that is not a well-formed placeholder."""
    stripped = PLACEHOLDER.sub("", template)
    if _ANY_BRACES.search(stripped):
        raise TemplateError("a '{{' or '}}' that is not a placeholder like {{ name }}")


# Shell constructs that read a word a second time (arithmetic, eval, ANSI-C quotes, here-documents):
# a quoted value inside them is no longer just a word, so a command using them takes no placeholders.
_REPARSING = re.compile(r"<<|\$'|\$\(\(|\(\(|\[\[|\beval\b|\blet\b|\bdeclare\b|\btypeset\b|\bsource\b")


def check_command(template: str) -> None:
    """Raise TemplateError unless every placeholder stands where the shell starts a word.

    Refused: placeholders inside quotes or a comment, after a backslash, right after ``-c``,
    and any placeholder in a command that uses a construct reading words twice (``eval``,
    ``[[``, arithmetic, ``$'...'``, here-documents).
    """
    check_text(template)
    places = list(PLACEHOLDER.finditer(template))
    if not places:
        return
    reparsing = _REPARSING.search(template)
    if reparsing:
        raise TemplateError(f"placeholders cannot be used in a command with {reparsing.group(0)!r}")
    for m in places:
        before = template[: m.start()]
        if before.endswith("\\"):
            raise TemplateError("a placeholder cannot follow a backslash")
        if re.search(r"(^|\s)-c\s*$", before):
            raise TemplateError("a placeholder cannot be a script given to -c")
    starts = {m.start(): m.group(1) for m in places}
    state = ""  # "", "'", '"' or "#"
    i = 0
    while i < len(template):
        ch = template[i]
        if i in starts and state:
            where = {"'": "single quotes", '"': "double quotes", "#": "a comment"}[state]
            name = starts[i]
            raise TemplateError(f"placeholder {{{{ {name} }}}} is inside {where}; values are quoted already")
        if state == "#":
            if ch == "\n":
                state = ""
        elif state == "'":
            if ch == "'":
                state = ""
        elif ch == "\\":
            i += 1
        elif state == '"':
            if ch == '"':
                state = ""
        elif ch in "'\"":
            state = ch
        elif ch == "#" and (i == 0 or template[i - 1] in " \t\n;&|("):
            state = "#"
        i += 1
    if state in {"'", '"'}:
        raise TemplateError("unbalanced quotes in the command")


def shell_word(value: Any) -> str:
    """One value as the shell words it stands for, quoted."""
    if value is None:
        return "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return " ".join(shell_word(v) for v in value) if value else "''"
    return shlex.quote(str(value))


def render_command(template: str, values: Mapping[str, Any]) -> str:
    """The command with every placeholder replaced by its quoted value (missing -> '')."""
    return PLACEHOLDER.sub(lambda m: shell_word(values.get(m.group(1))), template)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def render_text(template: str, values: Mapping[str, Any]) -> str:
    """The text with placeholders replaced by readable values (for people, not shells)."""
    return PLACEHOLDER.sub(lambda m: _text(values.get(m.group(1))), template)
