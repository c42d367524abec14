"""manygil.Pool against the concurrent.futures contract as the stdlib's own executors
keep it: wait/as_completed, no stale references held by map, map's argument checks and
messages, map with no iterables."""

from __future__ import annotations

import concurrent.futures as cf
import gc
import itertools
import threading
import weakref

import helpers
import manygil
import pytest
from manygil import Pool


@pytest.fixture
def pool():
    p = Pool(2)
    yield p
    p.shutdown(wait=True, cancel_futures=True)


def wait_for_event(event, value):
    """Block until ``event`` (a manygil.Event) is set, then return ``value``."""
    if not event.wait(30):
        raise TimeoutError("event never set")
    return value


class Box:
    """A result type with weak references (lists and ints have none)."""

    def __init__(self, n):
        self.n = n

    def touch(self):
        return self.n


def make_box(n):
    return Box(n)


# --- wait / as_completed ------------------------------------------------------------------


def test_wait_first_completed_returns_only_what_finished(pool):
    gate = manygil.Event()
    slow = pool.submit(wait_for_event, gate, "slow")
    fast = pool.submit(helpers.identity, "fast")
    done, not_done = cf.wait([slow, fast], timeout=30, return_when=cf.FIRST_COMPLETED)
    assert done == {fast} and not_done == {slow}
    gate.set()
    done, not_done = cf.wait([slow, fast], timeout=30, return_when=cf.ALL_COMPLETED)
    assert done == {slow, fast} and not not_done
    assert slow.result() == "slow"


def test_wait_first_exception_stops_at_the_failure(pool):
    gate = manygil.Event()
    blocked = pool.submit(wait_for_event, gate, 1)
    failing = pool.submit(helpers.raise_value_error, "boom")
    done, not_done = cf.wait([blocked, failing], timeout=30, return_when=cf.FIRST_EXCEPTION)
    assert done == {failing} and not_done == {blocked}
    assert isinstance(failing.exception(), ValueError)
    gate.set()
    assert blocked.result(30) == 1


def test_wait_timeout_returns_the_pending_futures(pool):
    gate = manygil.Event()
    f = pool.submit(wait_for_event, gate, 1)
    done, not_done = cf.wait([f], timeout=0.05)
    assert not done and not_done == {f}
    gate.set()
    assert f.result(30) == 1


def test_as_completed_yields_in_completion_order(pool):
    gates = [manygil.Event(), manygil.Event()]
    fs = [pool.submit(wait_for_event, g, i) for i, g in enumerate(gates)]
    it = cf.as_completed(fs, timeout=30)
    gates[1].set()
    assert next(it) is fs[1]
    gates[0].set()
    assert next(it) is fs[0]
    with pytest.raises(StopIteration):
        next(it)


def test_as_completed_timeout(pool):
    gate = manygil.Event()
    f = pool.submit(wait_for_event, gate, 1)
    with pytest.raises(TimeoutError):
        list(cf.as_completed([f], timeout=0.05))
    gate.set()
    assert [g.result() for g in cf.as_completed([f], timeout=30)] == [1]


# --- references ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", [1, 3])
def test_map_keeps_no_reference_to_yielded_results(pool, chunksize):
    seen = 0
    for box in pool.map(make_box, range(7), chunksize=chunksize):
        ref = weakref.ref(box)
        del box
        gc.collect()
        assert ref() is None, "map's iterator still holds a result it already yielded"
        seen += 1
    assert seen == 7


def test_submit_keeps_no_reference_to_the_callable(pool):
    box = Box(5)
    collected = threading.Event()
    ref = weakref.ref(box, lambda _: collected.set())
    f = pool.submit(box.touch)
    assert f.result(30) == 5
    del box
    gc.collect()
    assert collected.is_set() and ref() is None


# --- map's arguments, as the stdlib checks them -------------------------------------------


@pytest.mark.parametrize("buffersize", ["2", 2.0])
def test_map_buffersize_type_message(pool, buffersize):
    with pytest.raises(TypeError) as e:
        pool.map(str, [1], buffersize=buffersize)
    assert str(e.value) == "buffersize must be an integer or None"


@pytest.mark.parametrize("buffersize", [0, -1])
def test_map_buffersize_value_message(pool, buffersize):
    with pytest.raises(ValueError) as e:
        pool.map(str, [1], buffersize=buffersize)
    assert str(e.value) == "buffersize must be None or > 0"


def test_map_without_iterables_is_empty(pool):
    assert list(pool.map(str)) == []
    assert next(pool.map(str, buffersize=2), None) is None
    assert list(pool.map(str, progress=True)) == []


def test_map_buffersize_consumes_only_the_buffer(pool):
    ints = iter(range(10))
    results = pool.map(str, ints, buffersize=3)
    assert next(ints) == 3  # exactly `buffersize` items taken before iteration
    assert list(results) == ["0", "1", "2", "4", "5", "6", "7", "8", "9"]


def test_map_buffersize_over_an_infinite_iterable(pool):
    results = pool.map(helpers.square, itertools.count(), buffersize=2)
    assert [next(results) for _ in range(5)] == [0, 1, 4, 9, 16]
    results.close()
