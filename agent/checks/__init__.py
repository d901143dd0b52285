"""Checks with Nagios plugin semantics: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN and one line of output.

One module per kind (process, tcp, http, command, logfile). Each exposes ``options(section)``
(validate the kind's own keys from agent.yaml) and ``make(cfg, state_dir)`` returning a
``Check``; ``agent.checks.runner`` runs them with per-check timeouts in worker threads.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agent.config import CheckConfig, Section

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_WORDS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


@dataclass(frozen=True)
class PerfValue:
    """One perfdata item: ``label=value[uom];warn;crit;min;max`` (only label, value and uom kept)."""

    label: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    status: int
    output: str
    duration: float
    perfdata: tuple[PerfValue, ...] = field(default_factory=tuple)

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "status": self.status,
                "output": self.output, "duration": round(self.duration, 6)}


class Check(Protocol):
    """One configured check; ``run`` may block up to its timeout and must not raise."""

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]: ...


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
