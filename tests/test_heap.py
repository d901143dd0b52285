"""The heap settler freezes long-lived objects after growth, and not on every round."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from collector.services.heap import HeapSettler


@pytest.fixture(autouse=True)
def _thaw() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_it_settles_on_growth_or_after_a_while() -> None:
    h = HeapSettler(growth=0.1, every=600.0)
    assert h.maybe_settle(1000, 0.0)
    assert gc.get_freeze_count() > 0
    assert not h.maybe_settle(1050, 10.0)  # 5 % more series, 10 s later
    assert h.maybe_settle(1200, 20.0)  # 20 % more
    assert not h.maybe_settle(1200, 300.0)
    assert h.maybe_settle(1200, 621.0)  # ten minutes since the last one


def test_frozen_objects_are_still_freed_by_reference_counting() -> None:
    import weakref

    class Series:
        pass

    s = Series()
    ref = weakref.ref(s)
    HeapSettler().maybe_settle(1, 0.0)
    del s
    assert ref() is None
