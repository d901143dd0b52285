"""Pushes spooled reports to the collector, oldest first, several per request when behind.

What each answer means (docs/report-format.md):

- 2xx: stored; the reports leave the spool.
- 429: the collector is shedding load; wait its ``Retry-After`` (seconds or an HTTP date).
- 5xx or no answer: retry with capped exponential backoff and jitter.
- 413: the batch is too big; halve it (a single report that is too big is set aside).
- any other 4xx: the report will never be accepted. A batch is retried one report at a
  time to find the culprit; a single refused report is logged with the collector's
  message and moved to ``rejected/`` for an operator, so it is not resent forever.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.report import batch_body
from agent.spool import Entry, Spool
from agent.state import write_atomic
from agent.transport import CollectorEndpoint

log = logging.getLogger("upkeep.agent.shipper")

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
RETRY_AFTER_CAP = 3600.0
REJECTED_KEEP = 1000
IDLE_WAIT = 60.0


def retry_after_seconds(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_wall)


def backoff_delay(failures: int, rand: float, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Capped exponential backoff with jitter: a delay in [half, full] of min(cap, base * 2^(failures-1))."""
    full = min(cap, base * 2 ** max(0, min(failures - 1, 30)))
    return full * (0.5 + rand / 2)


def _collector_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or "(no message)"
    if isinstance(doc, dict) and "error" in doc:
        field = f" (field {doc['field']})" if doc.get("field") else ""
        return f"{doc['error']}{field}"
    return str(doc)[:200]


class Shipper:
    """Drains a spool into one collector. ``step`` does one request; ``run`` loops until stopped."""

    def __init__(self, spool: Spool, endpoint: CollectorEndpoint, token: Callable[[], str | None],
                 rejected_dir: Path, *, batch_max_reports: int = 50, batch_max_bytes: int = 4 * 2**20,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.spool = spool
        self.endpoint = endpoint
        self._token = token
        self._rejected = rejected_dir
        self._batch_max = batch_max_reports
        self._batch_bytes = batch_max_bytes
        self._batch_limit = batch_max_reports
        self._clock = clock
        self._rand = rand
        self._not_before = 0.0
        self.failures = 0
        self.push_failures_total = 0
        self.delivered_total = 0
        self.rejected_total = 0
        self._wake = threading.Event()
        self._stop = threading.Event()

    # -- one request ---------------------------------------------------------------------

    def step(self) -> float | None:
        """Send the oldest reports once if it is time. Returns seconds until the next useful
        attempt (0: more waiting, go on), or None when the spool is empty."""
        now = self._clock()
        if now < self._not_before:
            return self._not_before - now
        batch = self.spool.peek(self._batch_limit, self._batch_bytes)
        if not batch:
            return None
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = batch_body([payload for _, payload in batch])
        try:
            status, got, answer = self.endpoint.request("POST", "/api/v1/reports", body, headers)
        except Exception as exc:  # any failure to get an answer (DNS, TLS, reset, timeout) is "retry later"
            return self._retry_later(f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            self.spool.ack_through(batch[-1][0])
            self.delivered_total += len(batch)
            self.failures = 0
            self._batch_limit = min(self._batch_max, self._batch_limit * 2)
            return 0.0
        message = _collector_message(answer)
        if status == 429:
            self.push_failures_total += 1
            wait = retry_after_seconds(got.get("retry-after"), time.time())
            wait = backoff_delay(max(1, self.failures), self._rand()) if wait is None else wait
            wait = min(max(wait, 1.0), RETRY_AFTER_CAP)  # "Retry-After: 0" must not become a busy loop
            log.warning("collector is rate-limiting this host (429); next push in %.1fs", wait)
            self._not_before = self._clock() + wait
            return wait
        if status >= 500 or status < 400:
            return self._retry_later(f"HTTP {status}: {message}")
        self.push_failures_total += 1
        if len(batch) > 1:
            # One bad report must not take its neighbours down with it: narrow the batch.
            self._batch_limit = max(1, len(batch) // 2) if status == 413 else 1
            return 0.0
        self._set_aside(batch[0][0], batch[0][1], status, message)
        return 0.0

    def _retry_later(self, why: str) -> float:
        self.failures += 1
        self.push_failures_total += 1
        wait = backoff_delay(self.failures, self._rand())
        log.warning("push failed (%s); %d reports spooled, retry in %.1fs", why, self.spool.reports, wait)
        self._not_before = self._clock() + wait
        return wait

    def _set_aside(self, entry: Entry, payload: bytes, status: int, message: str) -> None:
        log.error("collector refused report seq %d for good (HTTP %d: %s); kept in %s", entry.seq, status,
                  message, self._rejected)
        self._rejected.mkdir(mode=0o700, exist_ok=True)
        write_atomic(self._rejected / f"{entry.seq:012d}.json", payload, 0o600)
        reason = f"HTTP {status}: {message}\n".encode()
        write_atomic(self._rejected / f"{entry.seq:012d}.reason", reason, 0o600)
        self.spool.ack_through(entry)
        self.rejected_total += 1
        kept = sorted(self._rejected.glob("*.json"))
        for old in kept[:-REJECTED_KEEP]:
            old.unlink(missing_ok=True)
            old.with_suffix(".reason").unlink(missing_ok=True)

    # -- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        """A new report is in the spool."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Drain the spool until ``stop``; sleeps while there is nothing to do or a backoff runs."""
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.step()
            except Exception:  # e.g. the cursor could not be written: keep the thread, try later
                log.exception("shipping failed unexpectedly")
                delay = self._retry_later("internal error")
            if delay == 0.0:
                continue
            # A new report during a backoff only re-checks the deadline in step(); it never cuts it short.
            self._wake.wait(IDLE_WAIT if delay is None else delay)
        self.endpoint.close()
