"""The on-disk spool: every report is written here (and fsynced) before it is sent.

Segment files ``seg-<n>.log`` hold records appended one after another::

    magic "UKS1" | length u32 | seq u64 | ts f64 | crc32 u32 | payload (length bytes of JSON)

all big-endian; the CRC covers seq, ts and the payload. ``cursor`` (replaced atomically)
names the first record not yet acknowledged and the running count of dropped reports.
A record leaves the spool only when acknowledged (a 2xx), set aside (a permanent 4xx) or
dropped past the bound (size or age), oldest first, each drop counted.

After kill -9 or a power cut the last record of the last segment may be torn: it fails
its length or CRC check, is cut off and logged, and everything before it is kept.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from collections import namedtuple

from agent.log import get_logger
from agent.state import read_text, remove, write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from agent.state import StrPath

log = get_logger("upkeep.agent.spool")

MAGIC = b"UKS1"
_HEAD = struct.Struct(">4sIQdI")
_CRC_PART = struct.Struct(">Qd")
SEGMENT_BYTES = 4 * 2**20
MAX_RECORD = 64 * 2**20


class Entry(namedtuple("Entry", "segment offset size seq ts")):
    """Where one spooled report lives, and its identity."""

    __slots__ = ()
    segment: int
    offset: int
    size: int  # header + payload
    seq: int
    ts: float


def _seg_name(n: int) -> str:
    return f"seg-{n:012d}.log"


def _crc(seq: int, ts: float, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_CRC_PART.pack(seq, ts))) & 0xFFFFFFFF


def scan_segment(path: StrPath, start: int = 0) -> tuple[list[tuple[int, int, int, float]], int, int]:
    """Records of one segment from ``start``: ([(offset, size, seq, ts)], good_end, file_size).

    Scanning stops at the first record that is incomplete or fails its checks; ``good_end``
    is where the valid records end.
    """
    out: list[tuple[int, int, int, float]] = []
    with open(path, "rb") as f:
        data = f.read()
    pos = start
    while pos + _HEAD.size <= len(data):
        magic, length, seq, ts, crc = _HEAD.unpack_from(data, pos)
        end = pos + _HEAD.size + length
        if magic != MAGIC or length > MAX_RECORD or end > len(data):
            break
        if _crc(seq, ts, data[pos + _HEAD.size:end]) != crc:
            break
        out.append((pos, end - pos, seq, ts))
        pos = end
    return out, pos, len(data)


class Spool:
    """A bounded, crash-safe FIFO of encoded reports. Thread-safe: the loop appends, the shipper acks."""

    def __init__(self, root: StrPath, max_bytes: int, max_age: float,
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        self.root = os.fspath(root)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._head = 0  # index of the first live entry in _entries (compacted now and then)
        self._bytes = 0
        self.dropped_total = 0
        self.corrupt_records = 0
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self._load()

    # -- opening -------------------------------------------------------------------------

    def _read_cursor(self) -> tuple[int, int]:
        try:
            c = json.loads(read_text(os.path.join(self.root, "cursor")))
            self.dropped_total = int(c.get("dropped", 0))
            return int(c["segment"]), int(c["offset"])
        except FileNotFoundError:
            return 0, 0
        except (OSError, ValueError, KeyError, TypeError):
            log.error("spool cursor unreadable; replaying every segment from its start")
            return 0, 0

    def _load(self) -> None:
        cur_seg, cur_off = self._read_cursor()
        segs = sorted(int(name[4:16]) for name in os.listdir(self.root)
                      if name.startswith("seg-") and name.endswith(".log") and name[4:16].isdigit())
        for n in segs:
            path = self._seg_path(n)
            if n < cur_seg:
                remove(path)
                continue
            records, good_end, size = scan_segment(path, cur_off if n == cur_seg else 0)
            if good_end < size:
                if n == segs[-1]:
                    log.warning("spool %s: torn record at byte %d cut off (%d bytes)", _seg_name(n), good_end,
                                size - good_end)
                    with open(path, "r+b") as f:
                        f.truncate(good_end)
                        os.fsync(f.fileno())
                else:
                    log.error("spool %s: damaged from byte %d; %d bytes skipped", _seg_name(n), good_end,
                              size - good_end)
                self.corrupt_records += 1
            for off, sz, seq, ts in records:
                self._entries.append(Entry(n, off, sz, seq, ts))
                self._bytes += sz
        # With no segment left, start past the cursor's so its offset never points into new data.
        self._segment = segs[-1] if segs else cur_seg + 1
        if segs and os.stat(self._seg_path(self._segment)).st_size >= self._segment_bytes:
            self._segment += 1
        # The oldest segment that may still be on disk: _commit deletes up to the cursor's.
        self._oldest = min([*(n for n in segs if n >= cur_seg), self._segment])
        self._fh = self._open_segment()

    def _open_segment(self) -> BinaryIO:
        fd = os.open(self._seg_path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab")

    def _seg_path(self, n: int) -> str:
        return os.path.join(self.root, _seg_name(n))

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- figures -------------------------------------------------------------------------

    @property
    def reports(self) -> int:
        with self._lock:
            return len(self._entries) - self._head

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def seqs(self) -> list[int]:
        """Sequence numbers waiting, oldest first."""
        with self._lock:
            return [e.seq for e in self._entries[self._head:]]

    # -- writing -------------------------------------------------------------------------

    def append(self, seq: int, ts: float, payload: bytes, now: float | None = None) -> Entry:
        """Write one report durably, then enforce the bound (``now`` for the age limit, default ``ts``)."""
        head = _HEAD.pack(MAGIC, len(payload), seq, ts, _crc(seq, ts, payload))
        with self._lock:
            if self._fh.tell() >= self._segment_bytes:
                self._fh.close()
                self._segment += 1
                self._fh = self._open_segment()
            offset = self._fh.tell()
            try:
                self._fh.write(head + payload)
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError:
                # A half-written record (disk full) must not stay in front of the next one.
                self._fh.truncate(offset)
                raise
            entry = Entry(self._segment, offset, len(head) + len(payload), seq, ts)
            self._entries.append(entry)
            self._bytes += entry.size
            self._enforce(ts if now is None else now, keep_last=True)
        return entry

    def _enforce(self, now: float, keep_last: bool) -> None:
        oldest_ok = now - self.max_age
        floor = 1 if keep_last else 0
        dropped = 0
        while len(self._entries) - self._head > floor:
            e = self._entries[self._head]
            if self._bytes <= self.max_bytes and e.ts >= oldest_ok:
                break
            self._head += 1
            self._bytes -= e.size
            dropped += 1
        if dropped:
            self.dropped_total += dropped
            log.warning("spool over its bound: dropped the %d oldest reports (%d in all)", dropped,
                        self.dropped_total)
            self._commit()

    def enforce(self, now: float) -> None:
        """Drop reports older than max_age (and the oldest past max_bytes), counting each."""
        with self._lock:
            self._enforce(now, keep_last=False)

    # -- reading and acknowledging ---------------------------------------------------------

    def peek(self, max_reports: int, max_bytes: int) -> list[tuple[Entry, bytes]]:
        """The oldest reports, at most ``max_reports`` and about ``max_bytes`` (always at least one)."""
        with self._lock:
            batch = self._entries[self._head:self._head + max_reports]
        out: list[tuple[Entry, bytes]] = []
        total = 0
        handles: dict[int, BinaryIO] = {}
        try:
            for e in batch:
                if out and total + e.size > max_bytes:
                    break
                f = handles.get(e.segment)
                if f is None:
                    f = handles[e.segment] = open(self._seg_path(e.segment), "rb")  # noqa: SIM115
                f.seek(e.offset + _HEAD.size)
                out.append((e, f.read(e.size - _HEAD.size)))
                total += e.size
        except FileNotFoundError:
            # Dropped (and its segment deleted) between the snapshot and the read: send what we have.
            pass
        finally:
            for f in handles.values():
                f.close()
        return out

    def ack_through(self, entry: Entry) -> int:
        """Remove every report up to and including ``entry``; returns how many were still waiting."""
        with self._lock:
            n = 0
            while self._head < len(self._entries):
                e = self._entries[self._head]
                if (e.segment, e.offset) > (entry.segment, entry.offset):
                    break
                self._head += 1
                self._bytes -= e.size
                n += 1
            if n:
                self._commit()
            return n

    def _commit(self) -> None:
        """Persist the cursor, then delete segments wholly behind it (lock held)."""
        if self._head < len(self._entries):
            first = self._entries[self._head]
            seg, off = first.segment, first.offset
        else:
            seg, off = self._segment, self._fh.tell()
        cursor = {"segment": seg, "offset": off, "dropped": self.dropped_total}
        # No fsync: a cursor lost to a power cut only resends reports the collector already
        # has (it stores a repeated (agent, seq) once); one fsync per append is the price of
        # never losing a report, and that one is paid in append().
        write_atomic(os.path.join(self.root, "cursor"), json.dumps(cursor).encode(), 0o600, durable=False)
        if self._head > 1024 or self._head == len(self._entries):
            del self._entries[:self._head]
            self._head = 0
        for n in range(self._oldest, seg):
            remove(self._seg_path(n))
        self._oldest = max(self._oldest, seg)
