"""process: at least ``min`` (and at most ``max``) processes whose name or command line matches."""

from __future__ import annotations

import re

from agent.checks import CRITICAL, OK, WARNING, PerfValue
from agent.config import as_int, as_regex
from agent.procfs import processes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from agent.config import CheckConfig, Section




def options(sec: Section) -> dict[str, Any]:
    name = sec.get("name_pattern", None, as_regex)
    cmdline = sec.get("cmdline_pattern", None, as_regex)
    if (name is None) == (cmdline is None):
        raise sec.fail("name_pattern", "give exactly one of name_pattern or cmdline_pattern")
    lo = sec.get("min", 1, as_int(0, 1_000_000))
    hi = sec.get("max", None, as_int(0, 1_000_000))
    if hi is not None and hi < lo:
        raise sec.fail("max", "must not be below min")
    return {"name_pattern": name, "cmdline_pattern": cmdline, "min": lo, "max": hi}


class ProcessCheck:
    def __init__(self, opts: dict[str, Any]) -> None:
        self._on_cmdline = opts["cmdline_pattern"] is not None
        self._pattern = re.compile(opts["cmdline_pattern"] or opts["name_pattern"])
        self._min = opts["min"]
        self._max = opts["max"]

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]:
        attr = "cmdline" if self._on_cmdline else "name"
        count = 0
        for name, cmdline in processes(self._on_cmdline):
            value = cmdline if self._on_cmdline else name
            if value is None:
                continue
            text = " ".join(value) if self._on_cmdline else value
            if self._pattern.search(text):
                count += 1
        what = f"{attr} ~ '{self._pattern.pattern}'"
        perf = (PerfValue("procs", float(count)),)
        if count < self._min:
            need = f"need at least {self._min}"
            return CRITICAL, f"PROCS CRITICAL: {count} processes with {what} ({need})", perf
        if self._max is not None and count > self._max:
            return WARNING, f"PROCS WARNING: {count} processes with {what} (at most {self._max})", perf
        return OK, f"PROCS OK: {count} processes with {what}", perf


def make(cfg: CheckConfig, state_dir: Path | None) -> ProcessCheck:
    return ProcessCheck(dict(cfg.options))
