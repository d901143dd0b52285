"""Who may touch the recent window while a rule round reads it from a worker thread.

The window belongs to the server's event loop: ingest, heartbeats and trimming change it
there. A rule round at a fleet's size takes seconds of CPU; run on the loop it would hold every
request up for as long as one rule takes. So the round runs in a thread (``read``), and for
its length the loop's changes queue up here (``write``) instead of touching the window. When the
round is done they are applied in arrival order, in slices between which requests are answered,
and only when the queue is empty is the window the loop's again. Readers on the loop that need
a window nobody changes (``/federate``) wait for that (``free``); periodic walks (trimming)
check ``held`` between their steps and stop.

Nothing is lost or reordered: a change queued during a round is applied before any later one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("upkeep.window")

# How long one slice of queued changes may keep the event loop (seconds).
DRAIN_SLICE = 0.005


class WindowGate:
    def __init__(self) -> None:
        self._queue: deque[tuple[Callable[..., object], tuple[object, ...]]] = deque()
        self._held = False
        self._free: asyncio.Event | None = None

    @property
    def held(self) -> bool:
        """A round reads the window, or changes queued during one are still being applied."""
        return self._held

    @property
    def queued(self) -> int:
        return len(self._queue)

    def write(self, fn: Callable[..., object], *args: object) -> None:
        """Apply ``fn(*args)`` to the window now, or after the running round (event loop only)."""
        if self._held:
            self._queue.append((fn, args))
        else:
            fn(*args)

    async def free(self) -> None:
        """Wait until no round holds the window (event loop only); returns at once when none does."""
        while self._held:
            if self._free is None:
                self._free = asyncio.Event()
            await self._free.wait()

    async def read(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which reads the window) in a worker thread while the loop's changes queue,
        then apply them. Rounds do not overlap: a second one waits for the first."""
        await self.free()
        self._held = True
        try:
            result = await asyncio.to_thread(fn)
        except asyncio.CancelledError:
            # The server is closing: the thread may still be reading, so nothing is applied
            # (the window goes with the process; the report log has every report).
            self._release()
            raise
        except Exception:
            await self._drain()
            raise
        await self._drain()
        return result

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue:
                until = time.perf_counter() + DRAIN_SLICE
                while queue and time.perf_counter() < until:
                    fn, args = queue.popleft()
                    try:
                        fn(*args)
                    except Exception:
                        # The window is rebuilt from the report log at start; one failed change
                        # must not keep the ones behind it out.
                        log.exception("a recent-window change failed")
                if queue:
                    await asyncio.sleep(0)
        finally:
            self._release()

    def _release(self) -> None:
        # Emptied already, unless cancelled (the server is closing): then what is left goes with
        # the window.
        self._queue.clear()
        self._held = False
        if self._free is not None:
            self._free.set()
            self._free = None
