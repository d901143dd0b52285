"""Keep the cyclic garbage collector off the recent window.

The window holds hundreds of thousands of long-lived series objects that never form garbage
cycles, yet every full collection walks all of them: at 10,000 hosts that is about a fifth of
a rule-evaluation round. After the window has grown markedly (or every ten minutes) the
collector runs one full collection and freezes what survived (``gc.freeze``), so later
collections walk only younger objects. Frozen objects are still freed by reference counting
when the window drops them; only garbage cycles among them would be kept, and series form none.
"""

from __future__ import annotations

import gc


class HeapSettler:
    """Decides when to collect and freeze the heap; call ``maybe_settle`` after each evaluation round."""

    def __init__(self, *, growth: float = 0.1, every: float = 600.0) -> None:
        self.growth = growth
        self.every = every
        self._series = 0
        self._at: float | None = None

    def maybe_settle(self, series_count: int, now: float) -> bool:
        """Collect and freeze when the window grew by ``growth`` or ``every`` seconds passed."""
        grown = series_count > self._series * (1 + self.growth)
        if not grown and self._at is not None and now - self._at < self.every:
            return False
        gc.collect()
        gc.freeze()
        self._series = series_count
        self._at = now
        return True
