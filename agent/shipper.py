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

import json
import os
import random
import threading
import time

from agent.log import get_logger
from agent.report import batch_body
from agent.state import remove, write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.spool import Entry, Spool
    from agent.state import StrPath
    from agent.transport import CollectorEndpoint

log = get_logger("upkeep.agent.shipper")

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
RETRY_AFTER_CAP = 3600.0
REJECTED_KEEP = 1000
IDLE_WAIT = 60.0


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def http_date(value: str) -> float | None:
    """Seconds since the epoch of an HTTP date; None if it is not one.

    RFC 9110's three forms: ``Sun, 06 Nov 1994 08:49:37 GMT``, the obsolete
    ``Sunday, 06-Nov-94 08:49:37 GMT`` and asctime's ``Sun Nov  6 08:49:37 1994``; a numeric
    zone (``+0200``) is honoured too.
    """
    parts: list[str] = []
    for word in value.replace(",", " ").split():
        # 06-Nov-94 (RFC 850) is three words; a zone such as -0130 is one.
        parts += word.split("-") if word.count("-") == 2 and word[0] != "-" else [word]
    if parts and parts[0].isalpha() and parts[0][:3].lower() not in _MONTHS:
        parts = parts[1:]  # the weekday says nothing the date does not
    zone = "GMT"
    if len(parts) == 4 and parts[0][:3].lower() in _MONTHS:  # asctime: month day time year
        mon, day, clock, year = parts
    elif len(parts) in (4, 5):
        day, mon, year, clock, *rest = parts
        zone = rest[0] if rest else zone
    else:
        return None
    month = _MONTHS.get(mon[:3].lower())
    hms = clock.split(":")
    if (month is None or not day.isdigit() or not year.isdigit() or len(hms) != 3
            or not all(p.isdigit() for p in hms)):
        return None
    y = int(year)
    if len(year) == 2:
        y += 2000 if y < 69 else 1900
    h, mi, sec = (int(p) for p in hms)
    if not (1 <= int(day) <= 31 and h < 24 and mi < 60 and sec < 61):
        return None
    if zone.upper() in ("GMT", "UTC", "UT", "Z"):
        offset = 0
    elif len(zone) == 5 and zone[0] in "+-" and zone[1:].isdigit():
        offset = (int(zone[1:3]) * 3600 + int(zone[3:]) * 60) * (-1 if zone[0] == "-" else 1)
    else:
        return None
    return float(_days_from_civil(y, month, int(day)) * 86400 + h * 3600 + mi * 60 + sec - offset)


def retry_after_seconds(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date(value)
    return None if when is None else max(0.0, when - now_wall)


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
                 rejected_dir: StrPath, *, batch_max_reports: int = 50, batch_max_bytes: int = 4 * 2**20,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.spool = spool
        self.endpoint = endpoint
        self._token = token
        self._rejected = os.fspath(rejected_dir)
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
        os.makedirs(self._rejected, mode=0o700, exist_ok=True)
        stem = os.path.join(self._rejected, f"{entry.seq:012d}")
        write_atomic(f"{stem}.json", payload, 0o600)
        reason = f"HTTP {status}: {message}\n".encode()
        write_atomic(f"{stem}.reason", reason, 0o600)
        self.spool.ack_through(entry)
        self.rejected_total += 1
        kept = sorted(n[:-len(".json")] for n in os.listdir(self._rejected)
                      if n.endswith(".json") and not n.startswith("."))
        for old in kept[:-REJECTED_KEEP]:
            remove(os.path.join(self._rejected, f"{old}.json"))
            remove(os.path.join(self._rejected, f"{old}.reason"))

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
