"""The alerts area: rule files -> evaluation over the recent window -> alert state -> tickets.

``AlertService.evaluate(now)`` is one evaluation: it runs the due rule groups over ``ctx.window``
through the pure evaluator, writes changed alerts and the changes themselves to the store, then
hands undelivered changes to the ticket area (looked up at hand-over time: until an area named
``tickets`` with ``alerts_changed`` exists, changes are only recorded). Each change is delivered
once per state change -- ``firing`` once, ``resolved`` once -- never repeated while an alert keeps
firing; a failed hand-over is retried at the next evaluation (the ticket side de-duplicates by
fingerprint, so a retry after a crash is harmless).

Rules load at server start (``startup``), on SIGHUP and on ``reload()``; a reload with a bad file
changes nothing and raises RuleError naming the file and rule. The window touched here belongs to
the server's event loop: the server loop evaluates on that loop and writes to the store in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import Metric

from collector.core.alerting.evaluator import Evaluation, RuleEvaluator
from collector.core.alerting.model import ActiveAlert, AlertChange
from collector.core.alerting.rulefile import RuleSet, build_rule_set, check_rule_file
from collector.core.alerting.state import resolve_all
from collector.errors import RuleError
from collector.services import AppContext
from collector.services.heap import HeapSettler
from collector.shipped import shipped_dir
from collector.store import alerts as store

log = logging.getLogger("upkeep.alerts")

SHIPPED_RULES = shipped_dir("rules")
DELIVER_CHUNK = 100  # alert changes per ticket-area transaction


def rule_files_in(path: Path) -> list[Path]:
    """A file as is; a folder's ``*.yml``/``*.yaml`` (sorted, its ``tests/`` left out)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yml", ".yaml"} and p.is_file())
    return [path]


def read_rule_files(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """``(path, text)`` for every rule file under ``paths``; RuleError for one that cannot be read."""
    out: list[tuple[str, str]] = []
    for root in paths:
        if not root.exists():
            raise RuleError("no such file or folder", file=str(root))
        for p in rule_files_in(root):
            try:
                out.append((str(p), p.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise RuleError(f"cannot read: {exc}", file=str(p)) from None
    return out


@dataclass(frozen=True)
class ReloadResult:
    files: int
    groups: int
    rules: int


class AlertMetrics:
    """``ALERTS``/``ALERTS_FOR_STATE`` from the live alerts, plus evaluation figures, for /metrics."""

    def __init__(self, service: AlertService) -> None:
        self._service = service
        self.duration = Histogram(
            "upkeep_rule_evaluation_duration_seconds", "Time one full rule evaluation took",
            registry=None, buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.failures = Counter(
            "upkeep_rule_evaluation_failures_total", "Rule evaluations that failed", ["rule"], registry=None
        )

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        alerts = Metric("ALERTS", "Active alerts: 1 per pending or firing alert", "gauge")
        for_state = Metric("ALERTS_FOR_STATE", "Unix time each active alert became active", "gauge")
        for a in self._service.evaluator.alerts():
            alerts.add_sample("ALERTS", {**a.labels, "alertstate": a.state.value}, 1.0)
            for_state.add_sample("ALERTS_FOR_STATE", dict(a.labels), float(int(a.active_at)))
        return [alerts, for_state]

    def collectors(self) -> list[Any]:
        return [self, self.duration, self.failures]


class AlertService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.config = ctx.config.alerting
        self.evaluator = RuleEvaluator(
            RuleSet(), lookback=self.config.lookback, default_interval=self.config.interval,
            external_labels=self.config.external_labels, external_url=self.config.external_url,
        )
        self.metrics = AlertMetrics(self)
        self.last_reload_error: str | None = None
        self._lock = threading.RLock()
        # Store writes and hand-overs happen one at a time, in evaluation order, whichever thread runs them.
        self._commit_lock = threading.Lock()
        self._persisted: dict[tuple[str, str], ActiveAlert] = {}
        # Changes an evaluation produced that the store has not taken yet (it was unreachable):
        # written with the next evaluation's, so a firing or resolved change is never dropped.
        self._unrecorded: list[tuple[AlertChange, float]] = []
        self._wake: asyncio.Event | None = None
        self._heap = HeapSettler()

    # -- rules ------------------------------------------------------------------------------------
    def rule_paths(self) -> list[Path]:
        """The shipped pack (unless disabled) and then the configured files and folders."""
        paths: list[Path] = []
        if self.config.shipped_rules:
            if SHIPPED_RULES.is_dir():
                paths.append(SHIPPED_RULES)
            else:
                log.warning("the shipped rule pack is not at %s; only alerting.rule_paths are loaded",
                            SHIPPED_RULES)
        return paths + list(self.config.rule_paths)

    def reload(self, now: datetime | None = None) -> ReloadResult:
        """Load every rule file afresh; on any problem the rules in force stay and RuleError is raised."""
        t = (now or self.ctx.clock.now()).timestamp()
        try:
            rules = build_rule_set(read_rule_files(self.rule_paths()))
        except RuleError as exc:
            self.last_reload_error = str(exc)
            log.error("rules not reloaded, the previous rules stay in force: %s", exc)
            raise
        with self._lock:
            changes = self.evaluator.replace_rules(rules, t)
            self.last_reload_error = None
            self._fit_window(rules)
        if changes:
            self.commit(changes, t)
        return ReloadResult(len(rules.files), len(rules.groups), sum(1 for _ in rules.rules()))

    def _fit_window(self, rules: RuleSet) -> None:
        """Keep each metric as far back as a rule reads it, plus one interval; every series at
        least ``retention.window`` and the lookback (what an instant selector and /federate read)."""
        step = self.config.interval
        floor = max(self.ctx.config.retention.window, self.config.lookback + step)
        self.ctx.window.fit(rules.reaches(self.config.lookback), floor=floor, margin=step)

    def startup(self) -> None:
        """Server start: load the rules (a bad file is logged and skipped), then restore alert state."""
        t = self.ctx.clock.now().timestamp()
        try:
            self.reload()
        except RuleError:
            files = read_rule_files_lenient(self.rule_paths())
            good = [(name, text) for name, text in files if not check_rule_file(text, name)[1]]
            with self._lock:
                self.evaluator.replace_rules(build_rule_set(good), t)
                self._fit_window(self.evaluator.rules)
        self.restore(t)

    def restore(self, now: float) -> int:
        """Put back the persisted alerts; those of rules no longer loaded resolve now."""
        with self.ctx.engine.connect() as conn:
            saved = store.load_active(conn)
        with self._lock:
            n = self.evaluator.restore(saved)
            known = {(a.rule, a.fingerprint) for a in self.evaluator.alerts()}
            gone = [a for a in saved if (a.rule, a.fingerprint) not in known]
            self._persisted = {(a.rule, a.fingerprint): a for a in self.evaluator.alerts()}
        changes = [c for a in gone for c in resolve_all({a.fingerprint: a}, now)]
        with self.ctx.engine.begin() as conn:
            store.save_active(conn, [], [(a.rule, a.fingerprint) for a in gone])
            if changes:
                store.record_changes(conn, changes, now)
        self.deliver(now)
        return n

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, now: datetime, *, every_group: bool = False) -> list[AlertChange]:
        """One evaluation at ``now``: state machine, persistence, hand-over. The changes it produced."""
        outcome, t = self.compute(now, every_group=every_group)
        self.commit(outcome.changes, t)
        return outcome.changes

    def compute(self, now: datetime, *, every_group: bool = False) -> tuple[Evaluation, float]:
        """The in-memory part of an evaluation (reads the window: run it on the window's thread)."""
        t = now.timestamp()
        started = time.perf_counter()
        with self._lock:
            outcome = self.evaluator.evaluate(self.ctx.window, t, every_group=every_group)
        self._account(outcome, started)
        return outcome, t

    async def compute_async(self, now: datetime) -> tuple[Evaluation, float]:
        """``compute`` in a worker thread, the event loop answering requests meanwhile.

        The window gate (``ctx.gate``) keeps the loop's changes to the window (ingest,
        heartbeats, trimming) queued for the length of the round and applies them after it, so
        the round reads a window nobody else changes, and a rule that takes a second at a
        fleet's size never holds a request up for that second.
        """
        return await self.ctx.gate.read(lambda: self.compute(now))

    def _account(self, outcome: Evaluation, started: float) -> None:
        if outcome.groups:
            self.metrics.duration.observe(time.perf_counter() - started)
        names = {r.key: r.name for r in self.evaluator.rules.rules()}
        for key, error in outcome.failures.items():
            self.metrics.failures.labels(rule=names.get(key, key)).inc()
            log.warning("rule %s failed: %s", names.get(key, key), error)

    def commit(self, changes: list[AlertChange], t: float) -> None:
        """Persist changed alerts and the changes, then hand undelivered changes over."""
        with self._commit_lock:
            with self._lock:
                current = {(a.rule, a.fingerprint): a for a in self.evaluator.alerts()}
                upserts = [a for k, a in current.items() if self._persisted.get(k) != a]
                removals = [k for k in self._persisted if k not in current]
            pending = [*self._unrecorded, *((c, t) for c in changes)]
            if upserts or removals or pending:
                try:
                    with self.ctx.engine.begin() as conn:
                        store.save_active(conn, upserts, removals)
                        for change, at in pending:
                            store.record_changes(conn, [change], at)
                except Exception:
                    self._unrecorded = pending
                    raise
            self._unrecorded = []
            self._persisted = current
            self.deliver(t)

    def deliver(self, t: float) -> int:
        """Hand recorded, undelivered changes to the ticket area, if there is one. How many it took.

        In chunks of ``DELIVER_CHUNK``, each its own transaction, so an alert storm never holds
        the store's write lock (SQLite has one) for long: ingest commits between the chunks.
        A chunk is marked delivered right after the ticket area took it; one that fails stays
        undelivered and is offered again at the next evaluation (the ticket area applies a
        repeated change as a no-op: one ticket per open key).
        """
        sink = self.ctx.areas.get("tickets")
        if sink is None or not callable(getattr(sink, "alerts_changed", None)):
            return 0
        taken = 0
        while True:
            with self.ctx.engine.connect() as conn:
                pending = store.undelivered(conn, limit=DELIVER_CHUNK)
            if not pending:
                return taken
            try:
                sink.alerts_changed([c for _, c in pending], datetime.fromtimestamp(t, UTC))
            except Exception:
                log.exception("the ticket area refused %d alert changes; retrying at the next evaluation",
                              len(pending))
                return taken
            with self.ctx.engine.begin() as conn:
                store.mark_delivered(conn, [i for i, _ in pending], t)
            taken += len(pending)

    def active(self, customers: Sequence[str] | None = None, state: str | None = None) -> list[ActiveAlert]:
        """The alerts as last persisted (every collector process agrees), optionally scoped."""
        with self.ctx.engine.connect() as conn:
            return store.list_active(conn, customers=customers, state=state)

    # -- the server loop --------------------------------------------------------------------------
    def wake(self) -> None:
        """Ask the server loop to evaluate now (after a reload); call it on the event loop."""
        if self._wake is not None:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every ``interval``; reload on SIGHUP. Runs on the server's event loop."""
        loop = asyncio.get_running_loop()
        hup = asyncio.Event()
        self._wake = wake = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, hup.set)
        try:
            while not stop.is_set():
                if hup.is_set():
                    hup.clear()
                    with contextlib.suppress(RuleError):
                        await asyncio.to_thread(self.reload)
                wake.clear()
                try:
                    outcome, t = await self.compute_async(self.ctx.clock.now())
                    await asyncio.to_thread(self.commit, outcome.changes, t)
                    self._heap.maybe_settle(self.ctx.window.series_count(), time.monotonic())
                except Exception:
                    log.exception("rule evaluation failed")
                waiters = [asyncio.ensure_future(e.wait()) for e in (stop, hup, wake)]
                _done, pending = await asyncio.wait(waiters, timeout=self.config.interval,
                                                    return_when=asyncio.FIRST_COMPLETED)
                for w in pending:
                    w.cancel()
        finally:
            self._wake = None
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)


def read_rule_files_lenient(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """Like read_rule_files, skipping (and logging) what cannot be read."""
    out: list[tuple[str, str]] = []
    for root in paths:
        try:
            out.extend(read_rule_files([root]))
        except RuleError as exc:
            log.error("rule files skipped: %s", exc)
    return out


def alert_json(a: ActiveAlert) -> dict[str, object]:
    """An alert as the API and `--json` give it."""

    def iso(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()

    return {
        "alertname": a.alertname,
        "fingerprint": a.fingerprint,
        "state": a.state.value,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "active_at": iso(a.active_at),
        "fired_at": iso(a.fired_at),
        "value": None if math.isnan(a.value) or math.isinf(a.value) else a.value,
        "host": a.labels.get("host"),
        "customer": a.labels.get("customer"),
        "severity": a.labels.get("severity"),
    }


def install(ctx: AppContext) -> None:
    """Build the alert service into ctx.areas; the server loads rules at start-up and runs the loop."""
    svc = AlertService(ctx)
    ctx.areas["alerts"] = svc
    ctx.metrics.extend(svc.metrics.collectors())
    ctx.background.append(svc.run)
