"""Checks with Nagios plugin semantics: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN and one line of output.

One module per kind (process, tcp, http, command, logfile). Each exposes ``options(section)``
(validate the kind's own keys from agent.yaml) and ``make(cfg, state_dir)`` returning a
``Check``; ``agent.checks.runner`` runs them with per-check timeouts in worker threads.
"""

from __future__ import annotations

import importlib
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any, Protocol

    from agent.config import CheckConfig, Section

    class Check(Protocol):
        """One configured check; ``run`` may block up to its timeout and must not raise."""

        def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]: ...

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_WORDS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


class PerfValue(namedtuple("PerfValue", "label value unit", defaults=("",))):
    """One perfdata item: ``label=value[uom];warn;crit;min;max`` (only label, value and uom kept)."""

    __slots__ = ()
    label: str
    value: float
    unit: str


class CheckResult(namedtuple("CheckResult", "name kind status output duration perfdata", defaults=((),))):
    __slots__ = ()
    name: str
    kind: str
    status: int
    output: str
    duration: float
    perfdata: tuple[PerfValue, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "status": self.status,
                "output": self.output, "duration": round(self.duration, 6)}


def one_line(text: str, limit: int = 512) -> str:
    """Nagios output is one line: the first line, trimmed."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:limit]


def _module(kind: str) -> Any:
    return importlib.import_module(f"agent.checks.{kind}")


def validate_options(kind: str, sec: Section) -> Mapping[str, Any]:
    return _module(kind).options(sec)


def make_check(cfg: CheckConfig, state_dir: Path | None) -> Check:
    return _module(cfg.kind).make(cfg, state_dir)
