"""command: run an existing Nagios plugin; its exit code, first line and perfdata are the result.

The command is an argv list (or a string split like a shell would, never run by one), so
nothing is spliced into a shell. On timeout the plugin's whole process group is killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

from agent.checks import UNKNOWN, PerfValue, one_line
from agent.config import CheckConfig, Section

# label=value[uom];warn;crit;min;max — a label may be quoted with ' and contain spaces.
_PERF_ITEM = re.compile(r"""\s*('(?:[^']|'')+'|[^\s=']+)=([-+]?[0-9.]+(?:[eE][-+]?\d+)?)([a-zA-Z%/]*)(\S*)""")


def parse_perfdata(text: str) -> tuple[PerfValue, ...]:
    """Parse a Nagios perfdata string; malformed items are skipped, the rest kept."""
    out: list[PerfValue] = []
    pos = 0
    while pos < len(text):
        m = _PERF_ITEM.match(text, pos)
        if not m:
            nxt = text.find(" ", pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        label = m.group(1)
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        with contextlib.suppress(ValueError):
            out.append(PerfValue(label, float(m.group(2)), m.group(3)))
        pos = m.end()
    return tuple(out)


def parse_plugin_output(stdout: str) -> tuple[str, tuple[PerfValue, ...]]:
    """(first line of text, all perfdata) from a plugin's output.

    Per the plugin guidelines perfdata follows ``|`` on the first line and, for long
    output, on any later line after a ``|``.
    """
    lines = stdout.splitlines() or [""]
    text, _, perf = lines[0].partition("|")
    perf_parts = [perf]
    rest = "\n".join(lines[1:])
    if "|" in rest:
        perf_parts.append(rest.partition("|")[2])
    return text.strip(), parse_perfdata(" ".join(perf_parts))


def _argv(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        argv = shlex.split(v)
    elif isinstance(v, list) and all(isinstance(a, str) for a in v):
        argv = list(v)
    else:
        raise ValueError("must be a list of arguments or a command string")
    if not argv:
        raise ValueError("must not be empty")
    return tuple(argv)


def options(sec: Section) -> dict[str, Any]:
    argv = sec.require("command", _argv)
    if not os.path.isabs(argv[0]):
        raise sec.fail("command", "the program must be an absolute path "
                       "(e.g. /usr/lib/nagios/plugins/check_disk)")
    return {"command": argv}


class CommandCheck:
    def __init__(self, argv: tuple[str, ...]) -> None:
        self._argv = argv

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]:
        try:
            proc = subprocess.Popen(self._argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return UNKNOWN, f"UNKNOWN - cannot run {self._argv[0]}: {exc.strerror or exc}", ()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The plugin may have children (check_by_ssh, a shell script): end the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return UNKNOWN, f"UNKNOWN - {self._argv[0]} timed out after {timeout:g}s", ()
        text, perf = parse_plugin_output(out.decode("utf-8", "replace"))
        code = proc.returncode
        if not text:
            text = one_line(err.decode("utf-8", "replace")) or f"(no output, exit code {code})"
        if code not in (0, 1, 2, 3):
            return UNKNOWN, one_line(f"UNKNOWN - exit code {code}: {text}"), perf
        return code, one_line(text), perf


def make(cfg: CheckConfig, state_dir: Path | None) -> CommandCheck:
    return CommandCheck(cfg.options["command"])
