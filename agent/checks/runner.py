"""Runs every check in its own worker thread and waits for each no longer than its timeout.

A check that overruns is reported UNKNOWN ("timed out") and, while its thread is still
stuck, is not started again (reported UNKNOWN "still running"), so a hung plugin or a dead
NFS mount costs one thread, never the collection loop.
"""

from __future__ import annotations

import threading
import time

from agent.checks import UNKNOWN, CheckResult, make_check, one_line
from agent.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from agent.checks import Check, PerfValue
    from agent.config import CheckConfig

log = get_logger("upkeep.agent.checks")


class _Slot:
    __slots__ = ("cfg", "check", "fresh", "outcome", "thread")

    def __init__(self, cfg: CheckConfig, check: Check) -> None:
        self.cfg = cfg
        self.check = check
        self.thread: threading.Thread | None = None
        self.fresh = False  # started by the latest start(); False while a previous run is stuck
        self.outcome: list[tuple[int, str, tuple[PerfValue, ...], float]] = []


class CheckRunner:
    def __init__(self, checks: tuple[CheckConfig, ...], state_dir: Path | None,
                 built: list[tuple[CheckConfig, Check]] | None = None) -> None:
        """Checks from their configs; ``built`` adds ready-made ones (tests, embedding)."""
        self._slots = [_Slot(c, make_check(c, state_dir)) for c in checks]
        self._slots += [_Slot(c, check) for c, check in built or []]
        self.runs_total = 0

    @staticmethod
    def _work(slot: _Slot) -> None:
        start = time.perf_counter()
        try:
            status, output, perf = slot.check.run(slot.cfg.timeout)
        except Exception as exc:  # a check must never take the agent down
            log.exception("check %s failed", slot.cfg.name)
            status, output, perf = UNKNOWN, f"UNKNOWN - check failed: {exc}", ()
        slot.outcome.append((status, output, perf, time.perf_counter() - start))

    def start(self) -> None:
        """Start every check that is not still stuck in a previous run."""
        for slot in self._slots:
            if slot.thread is not None and slot.thread.is_alive():
                slot.fresh = False
                continue
            slot.fresh = True
            slot.outcome = []
            slot.thread = threading.Thread(target=self._work, args=(slot,), name=f"check {slot.cfg.name}",
                                           daemon=True)
            slot.thread.start()
            self.runs_total += 1

    def collect(self, started: float) -> list[CheckResult]:
        """Wait for the checks started at ``started`` (perf_counter), each up to its own timeout."""
        results: list[CheckResult] = []
        for slot in self._slots:
            t = slot.thread
            if t is None:
                continue
            if slot.fresh:
                # A little grace: a check that honours its timeout itself reports why it stopped.
                t.join(max(0.0, started + slot.cfg.timeout + 0.05 - time.perf_counter()))
            if slot.outcome:
                status, output, perf, took = slot.outcome[0]
                line = one_line(output) or "(no output)"
                results.append(CheckResult(slot.cfg.name, slot.cfg.kind, status, line, took, perf))
            else:
                took = time.perf_counter() - started
                why = (f"timed out after {slot.cfg.timeout:g}s" if slot.fresh
                       else "still hung in an earlier run; not started again")
                results.append(CheckResult(slot.cfg.name, slot.cfg.kind, UNKNOWN, f"UNKNOWN - {why}", took))
        return results

    def close(self) -> None:
        """Release what checks hold open between runs (log files)."""
        for slot in self._slots:
            close = getattr(slot.check, "close", None)
            if close is not None:
                close()

    def run_all(self) -> list[CheckResult]:
        started = time.perf_counter()
        self.start()
        return self.collect(started)
