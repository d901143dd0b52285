"""Folding the report log into 5-minute rollups, host by host.

A run covers the log rows past the watermark up to the newest row when it starts (``upto``).
It takes the hosts in id order, a chunk at a time: it reads a chunk's rows through the log's
(host, id) index, folds each host's reports column-wise (collector/core/rollup.py) and merges
the result into one row per host and bucket. Each chunk commits with the run's progress (the
last host done), so a crash or a closing collector resumes after that host and never folds a
report twice; the watermark moves to ``upto`` when the last chunk is done.

Reading and folding happen outside any write transaction: the ingest writer only waits for a
chunk's merge, a few milliseconds, never for the fold. Rollups run in one process (the
scheduler's leader, or the collector's own loop), so nothing else changes a run's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from collector.core.rollup import fold
from collector.services import AppContext
from collector.store import reportlog
from collector.store.inventory import get_number, host_ids_after, set_number

HOSTS_PER_CHUNK = 200


T = TypeVar("T")


class _Counted(Generic[T]):
    """An iterable passed through, counting what went by."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = items
        self.n = 0

    def __iter__(self) -> Iterator[T]:
        for item in self._items:
            self.n += 1
            yield item


def run_rollups(ctx: AppContext, now: float) -> int:
    """Fold the report log past the watermark into rollups; returns the reports folded.

    One run: the rows logged while it runs are left for the next. A closing context
    (``ctx.stopping``) stops it between chunks.
    """
    del now  # rollups follow the log, not the clock; the argument keeps the scheduler's signature
    total = 0
    while not ctx.stopping.is_set():
        with ctx.engine.connect() as conn:
            mark = get_number(conn, "rollup_watermark")
            progress = reportlog.rollup_progress(conn)
        if progress is None:
            if total:
                return total  # this call's run is done
            with ctx.engine.begin() as conn:
                upto = reportlog.last_report_id(conn)
                if upto <= mark:
                    return 0
                reportlog.start_rollup_run(conn, upto)
            continue
        upto, after_host = progress
        buckets: dict[reportlog.RollupKey, reportlog.SeriesAggs] = {}
        with ctx.engine.connect() as conn:
            chunk = host_ids_after(conn, after_host, HOSTS_PER_CHUNK)
            for host_id, reps in reportlog.host_reports(conn, chunk, mark, upto) if chunk else ():
                counted = _Counted(reps)
                for bucket, aggs in fold(counted).items():
                    buckets[(host_id, bucket)] = aggs
                total += counted.n
        with ctx.engine.begin() as conn:
            if not chunk:
                set_number(conn, "rollup_watermark", upto)
                reportlog.end_rollup_run(conn)
                continue
            reportlog.advance_rollup_run(conn, chunk[-1])  # the write lock first: then the merge
            reportlog.merge_buckets(conn, buckets)
    return total
