"""Reliability (issue 14): no timeout value, cancellation, signal or stuck call may crash,
hang, leak or lose a future. Each test names the behaviour it guards."""

from __future__ import annotations

import math

import helpers
import manygil
import pytest
from manygil import Pool, _native

# Timeouts that mean "no limit": inf, and values whose deadline cannot be represented.
HUGE_TIMEOUTS = [math.inf, 1e19, 2**64, 10**400]


@pytest.mark.parametrize("huge", HUGE_TIMEOUTS, ids=repr)
def test_huge_task_timeout_means_no_limit_and_the_pool_keeps_working(huge):
    with Pool(2, task_timeout=huge) as p:
        assert p.submit(helpers.add, 1, 2).result(timeout=huge) == 3
        assert p.apply(helpers.add, (2, 3), timeout=huge).result() == 5
        assert list(p.map(helpers.square, range(20), timeout=huge, chunksize=3)) == [
            x * x for x in range(20)
        ]
        # Later tasks are not lost: the workers are alive and take more work.
        assert [f.result() for f in [p.submit(helpers.square, i) for i in range(10)]] == [
            i * i for i in range(10)
        ]
        assert p.stats()["failed"] == 0


@pytest.mark.parametrize("huge", HUGE_TIMEOUTS, ids=repr)
def test_huge_timeouts_of_waits_mean_no_limit(huge, interp):
    q = manygil.Queue()
    q.put(1, timeout=huge)
    assert q.get(timeout=huge) == 1
    lock = manygil.Lock()
    assert lock.acquire(timeout=huge)
    lock.release()
    e = manygil.Event()
    e.set()
    assert e.wait(huge)
    assert manygil.wait_any([q], timeout=0) is None
    q.put(2)
    assert manygil.wait_any([q], timeout=huge) is q
    assert _native.call(interp.id, helpers.add, (1, 1), {}, huge) == (True, 2)


@pytest.mark.parametrize("bad", [math.nan, -1, -1e-9, -math.inf, -(10**400)], ids=repr)
def test_nan_and_negative_timeouts_are_refused_naming_the_parameter(bad):
    with pytest.raises(ValueError, match="task_timeout"):
        Pool(1, task_timeout=bad)
    with Pool(1) as p:
        with pytest.raises(ValueError, match="timeout"):
            p.apply(helpers.add, (1, 2), timeout=bad)
        with pytest.raises(ValueError, match="timeout"):
            p.map(helpers.square, [1], timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        manygil.Queue().get(timeout=bad)


# --- one rule for integer parameters -------------------------------------------------------

HUGE = 2**64

TOO_LARGE = [
    ("maxsize", lambda: manygil.Queue(maxsize=HUGE)),
    ("size", lambda: manygil.SharedBuffer(HUGE)),
    ("value", lambda: manygil.Semaphore(HUGE)),
    ("parties", lambda: manygil.Barrier(HUGE)),
    ("value", lambda: manygil.AtomicInt(HUGE)),
    ("interpreter id", lambda: manygil.Interpreter(HUGE)),
    ("max_tasks_per_worker", lambda: Pool(1, max_tasks_per_worker=HUGE)),
    ("max_workers", lambda: Pool(HUGE)),
]


@pytest.mark.parametrize(("name", "make"), TOO_LARGE, ids=[n for n, _ in TOO_LARGE])
def test_integers_that_do_not_fit_raise_overflow_error_naming_the_parameter(name, make):
    with pytest.raises(OverflowError, match=f"^{name} is out of range"):
        make()


BOOLS = {
    "maxsize": lambda: manygil.Queue(maxsize=True),
    "size": lambda: manygil.SharedBuffer(True),
    "value": lambda: manygil.Semaphore(True),
    "parties": lambda: manygil.Barrier(True),
    "AtomicInt": lambda: manygil.AtomicInt(True),
    "id": lambda: manygil.Interpreter(True),
    "max_workers": lambda: Pool(True),
    "max_tasks_per_worker": lambda: Pool(1, max_tasks_per_worker=True),
}


@pytest.mark.parametrize("name", list(BOOLS))
def test_bool_is_not_accepted_as_an_integer_anywhere(name):
    with pytest.raises(TypeError):
        BOOLS[name]()


def test_semaphore_value_past_2_63_is_not_negative():
    s = manygil.Semaphore(2**63 - 1)
    s.release()
    assert s._value == 2**63
