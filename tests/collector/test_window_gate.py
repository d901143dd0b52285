"""The window gate: a rule round reads the window in a thread while the event loop's changes wait."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from collector.core.window import RecentWindow
from collector.services.window_gate import WindowGate


def test_a_change_applies_at_once_while_no_round_runs() -> None:
    gate, seen = WindowGate(), []
    gate.write(seen.append, 1)
    assert seen == [1]
    assert not gate.held


def test_changes_made_during_a_round_wait_for_it_then_apply_in_order() -> None:
    window = RecentWindow(retention=3600)
    gate = WindowGate()
    started, release = threading.Event(), threading.Event()
    during: list[int] = []

    def round_() -> int:
        started.set()
        release.wait(5)
        # What the round saw: nothing the loop wrote while it ran.
        return sum(1 for _ in window.all_series())

    async def main() -> tuple[int, int, list[float]]:
        task = asyncio.create_task(gate.read(round_))
        while not started.is_set():
            await asyncio.sleep(0.001)
        for i in range(50):
            gate.write(window.append, "web1", "load", {}, float(i), float(i))
        during.append(gate.queued)
        assert window.series_count() == 0  # not applied yet
        release.set()
        seen = await task
        [s] = window.all_series()
        return seen, gate.queued, list(s.vs)

    seen, left, values = asyncio.run(main())
    assert seen == 0
    assert during == [50]
    assert left == 0
    assert values == [float(i) for i in range(50)]
    assert not gate.held


def test_the_event_loop_answers_while_a_round_computes() -> None:
    gate = WindowGate()
    ticks = 0

    def busy_round() -> int:
        # Pure-Python work holding the GIL in slices, as rule evaluation does.
        end, n = time.perf_counter() + 0.4, 0
        while time.perf_counter() < end:
            n += 1
        return n

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> None:
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        await asyncio.sleep(0)
        before = ticks
        await gate.read(busy_round)
        during = ticks - before
        stop.set()
        await t
        # On the loop (the old way) the ticker would not have run at all during the round.
        assert during >= 5

    asyncio.run(main())


def test_free_waits_for_the_round_and_rounds_do_not_overlap() -> None:
    gate = WindowGate()
    running = 0
    most = 0
    order: list[str] = []

    def round_(tag: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        time.sleep(0.05)
        running -= 1
        order.append(tag)
        return tag

    async def main() -> None:
        a = asyncio.create_task(gate.read(lambda: round_("a")))
        b = asyncio.create_task(gate.read(lambda: round_("b")))
        await asyncio.sleep(0.01)
        assert gate.held
        await gate.free()
        order.append("free")
        await asyncio.gather(a, b)

    asyncio.run(main())
    assert most == 1
    assert order[0] == "a"
    assert "free" in order
    assert order.index("free") >= 1


def test_a_failing_change_does_not_keep_the_later_ones_out(caplog: pytest.LogCaptureFixture) -> None:
    gate = WindowGate()
    seen: list[int] = []
    release = threading.Event()

    def boom() -> None:
        raise RuntimeError("bad change")

    async def main() -> None:
        task = asyncio.create_task(gate.read(lambda: release.wait(5)))
        await asyncio.sleep(0.01)
        gate.write(seen.append, 1)
        gate.write(boom)
        gate.write(seen.append, 2)
        release.set()
        await task

    asyncio.run(main())
    assert seen == [1, 2]
    assert "a recent-window change failed" in caplog.text
    assert not gate.held


def test_a_long_queue_is_applied_in_slices_between_which_the_loop_runs() -> None:
    gate = WindowGate()
    release = threading.Event()
    applied = 0
    ran_between = 0

    def slow_change() -> None:
        nonlocal applied
        applied += 1
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass

    async def other() -> None:
        nonlocal ran_between
        while applied < 100:
            if applied > 0:
                ran_between += 1
            await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(gate.read(lambda: release.wait(5)))
        await asyncio.sleep(0.01)
        for _ in range(100):
            gate.write(slow_change)
        watcher = asyncio.create_task(other())
        release.set()
        await task
        await watcher

    asyncio.run(main())
    assert applied == 100
    assert ran_between >= 2


def test_a_failed_round_still_applies_the_changes_it_held_back() -> None:
    gate = WindowGate()
    seen: list[int] = []
    release = threading.Event()

    def failing_round() -> None:
        release.wait(5)
        raise RuntimeError("rule engine bug")

    async def main() -> None:
        task = asyncio.create_task(gate.read(failing_round))
        await asyncio.sleep(0.01)
        gate.write(seen.append, 1)
        release.set()
        with pytest.raises(RuntimeError, match="rule engine bug"):
            await task

    asyncio.run(main())
    assert seen == [1]
    assert not gate.held


def test_a_cancelled_round_releases_the_window_without_applying_under_the_thread() -> None:
    gate = WindowGate()
    seen: list[int] = []
    release = threading.Event()

    async def main() -> None:
        task = asyncio.create_task(gate.read(lambda: release.wait(5)))
        await asyncio.sleep(0.01)
        gate.write(seen.append, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not gate.held
        await gate.free()  # returns at once
        gate.write(seen.append, 2)  # the loop's again
        release.set()

    asyncio.run(main())
    assert seen == [2]
