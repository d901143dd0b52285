"""The spool keeps every unacknowledged report across restarts and torn writes, and counts every drop."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.spool import Spool


def _payload(seq: int) -> bytes:
    return json.dumps({"seq": seq, "pad": "x" * (100 - len(str(seq)))}).encode()  # one size for all


def _fill(sp: Spool, seqs: range, ts: float = 1000.0) -> None:
    for s in seqs:
        sp.append(s, ts + s, _payload(s), now=ts + s)


def test_reports_survive_a_restart_in_order(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**9, 10**9, segment_bytes=600)
    _fill(sp, range(1, 21))
    got = sp.peek(5, 10**9)
    sp.ack_through(got[-1][0])
    sp.close()
    again = Spool(tmp_path, 10**9, 10**9, segment_bytes=600)
    assert again.seqs() == list(range(6, 21))
    assert [json.loads(p)["seq"] for _, p in again.peek(100, 10**9)] == list(range(6, 21))
    again.close()
    # Fully acknowledged segments are gone from the disk.
    assert len(list(tmp_path.glob("seg-*.log"))) < 20 * 128 // 600 + 1


def test_a_torn_last_record_is_cut_off_and_everything_before_kept(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**9, 10**9)
    _fill(sp, range(1, 6))
    sp.close()
    seg = sorted(tmp_path.glob("seg-*.log"))[-1]
    size = seg.stat().st_size
    with open(seg, "r+b") as f:  # a kill -9 in the middle of the last write
        f.truncate(size - 30)
    again = Spool(tmp_path, 10**9, 10**9)
    assert again.seqs() == [1, 2, 3, 4]
    assert again.corrupt_records == 1
    again.append(6, 1006.0, _payload(6))
    again.close()
    with Spool(tmp_path, 10**9, 10**9) as third:
        assert third.seqs() == [1, 2, 3, 4, 6]


def test_a_flipped_byte_is_detected_by_the_crc(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**9, 10**9)
    _fill(sp, range(1, 4))
    sp.close()
    seg = sorted(tmp_path.glob("seg-*.log"))[-1]
    data = bytearray(seg.read_bytes())
    data[-5] ^= 0xFF
    seg.write_bytes(bytes(data))
    with Spool(tmp_path, 10**9, 10**9) as again:
        assert again.seqs() == [1, 2]


def test_past_the_size_bound_the_oldest_are_dropped_and_counted_exactly(tmp_path: Path) -> None:
    one = len(_payload(1)) + 28
    sp = Spool(tmp_path, max_bytes=one * 10, max_age=10**9)
    _fill(sp, range(1, 26))
    assert sp.seqs() == list(range(16, 26))
    assert sp.dropped_total == 15
    sp.close()
    # The count survives a restart: it lives in the cursor.
    with Spool(tmp_path, one * 10, 10**9) as again:
        assert again.dropped_total == 15


def test_past_the_age_bound_old_reports_are_dropped(tmp_path: Path) -> None:
    sp = Spool(tmp_path, max_bytes=10**9, max_age=100)
    _fill(sp, range(1, 11), ts=1000.0)  # ts 1001..1010
    sp.enforce(now=1105.5)
    assert sp.seqs() == [6, 7, 8, 9, 10]
    assert sp.dropped_total == 5
    sp.close()


def test_files_are_private(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool", 10**9, 10**9)
    _fill(sp, range(1, 3))
    sp.ack_through(sp.peek(1, 10**9)[0][0])
    for p in (tmp_path / "spool").iterdir():
        assert os.stat(p).st_mode & 0o077 == 0, p
    sp.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "ack", "reopen"]), st.integers(1, 4)), max_size=40))
def test_model_spool_matches_a_list(tmp_path_factory: object, ops: list[tuple[str, int]]) -> None:
    root = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    sp = Spool(root, 10**9, 10**9, segment_bytes=400)
    model: list[int] = []
    seq = 0
    for op, n in ops:
        if op == "append":
            for _ in range(n):
                seq += 1
                sp.append(seq, 1000.0 + seq, _payload(seq))
                model.append(seq)
        elif op == "ack":
            got = sp.peek(n, 10**9)
            assert [e.seq for e, _ in got] == model[:n]
            if got:
                sp.ack_through(got[-1][0])
                del model[: len(got)]
        else:
            sp.close()
            sp = Spool(root, 10**9, 10**9, segment_bytes=400)
        assert sp.seqs() == model
    sp.close()
