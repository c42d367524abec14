"""manygil's synchronization primitives: threading's semantics across interpreters."""

from __future__ import annotations

import sys
import threading
import time

import handle_helpers as hh
import helpers
import manygil
import pytest
from conftest import sigint_when_ready, write_script
from waiting import wait_for_state

# --- Lock ------------------------------------------------------------------------------


def test_lock_basics():
    lock = manygil.Lock()
    assert not lock.locked()
    assert lock.acquire() is True and lock.locked()
    assert lock.acquire(False) is False
    assert lock.acquire(blocking=False) is False
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert 0.099 <= time.monotonic() - t0 < 10
    lock.release()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        lock.release()
    with lock as entered:
        assert entered is True and lock.locked()
    assert not lock.locked()


def test_lock_argument_errors_match_threading():
    for lock in (threading.Lock(), manygil.Lock()):
        with pytest.raises(ValueError):
            lock.acquire(False, 1)
        with pytest.raises(ValueError):
            lock.acquire(timeout=-2)
    assert manygil.Lock().acquire(timeout=-1) is True


def test_any_thread_may_release_a_lock(interp):
    lock = manygil.Lock()
    lock.acquire()
    assert interp.call(hh.try_release, lock) == "ok"
    assert not lock.locked()


def test_lock_across_interpreters(interp):
    lock, ready, release = manygil.Lock(), manygil.Event(), manygil.Event()
    t = interp.call_in_thread(hh.hold_lock, lock, ready, release)
    assert ready.wait(10)
    assert lock.locked() and lock.acquire(timeout=0.05) is False
    release.set()
    assert lock.acquire(timeout=10) is True
    lock.release()
    t.join(10)


def test_lock_gives_mutual_exclusion_across_interpreters():
    lock, buf = manygil.Lock(), manygil.SharedBuffer(8)
    interps = [manygil.create() for _ in range(3)]
    n = 400
    try:
        threads = [i.call_in_thread(hh.locked_increments, lock, buf, n) for i in interps]
        hh.locked_increments(lock, buf, n)
        for t in threads:
            t.join(60)
        assert int.from_bytes(buf[:8], "little") == 4 * n
    finally:
        for i in interps:
            i.close()


# --- RLock -----------------------------------------------------------------------------


def test_rlock_is_reentrant_and_owned(interp):
    lock = manygil.RLock()
    assert lock.acquire() and lock.acquire(timeout=1)
    assert lock._is_owned() and lock._recursion_count() == 2 and lock.locked()
    assert interp.call(hh.try_release, lock) == "RuntimeError", "another interpreter"
    other = []
    t = threading.Thread(target=lambda: other.append(hh.try_release(lock)))
    t.start()
    t.join(10)
    assert other == ["RuntimeError"], "another thread of this interpreter"
    lock.release()
    with lock:
        assert lock._recursion_count() == 2
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock.release()


def test_rlock_waits_for_another_interpreter(interp):
    lock, ready, release = manygil.RLock(), manygil.Event(), manygil.Event()
    t = interp.call_in_thread(hh.hold_lock, lock, ready, release)
    assert ready.wait(10)
    assert lock.acquire(blocking=False) is False and not lock._is_owned()
    release.set()
    assert lock.acquire(timeout=10)
    lock.release()
    t.join(10)


# --- Semaphores ------------------------------------------------------------------------


def test_semaphore_basics():
    sem = manygil.Semaphore(2)
    assert sem.acquire() and sem.acquire(blocking=False)
    assert sem.acquire(blocking=False) is False
    assert sem.acquire(timeout=0.05) is False
    sem.release(2)
    assert sem._value == 2
    sem.release()
    assert sem._value == 3, "an unbounded semaphore may grow"
    with sem:
        assert sem._value == 2
    with pytest.raises(ValueError):
        sem.release(0)
    with pytest.raises(ValueError):
        sem.acquire(False, 1)
    with pytest.raises(ValueError):
        manygil.Semaphore(-1)
    assert manygil.Semaphore()._value == 1


def test_bounded_semaphore():
    sem = manygil.BoundedSemaphore(2)
    with pytest.raises(ValueError, match="too many"):
        sem.release()
    sem.acquire()
    with pytest.raises(ValueError):
        sem.release(2)
    assert sem._value == 1, "nothing released by the failed call"
    sem.release()
    assert (sem._value, sem._initial_value) == (2, 2)


def test_semaphore_bounds_holders_across_interpreters(two_interps):
    sem, inside, peak = manygil.Semaphore(2), manygil.AtomicInt(), manygil.AtomicInt()
    threads = [i.call_in_thread(hh.semaphore_hold, sem, inside, peak, 30) for i in two_interps]
    hh.semaphore_hold(sem, inside, peak, 30)
    for t in threads:
        t.join(60)
    assert 1 <= peak.get() <= 2 and inside.get() == 0 and sem._value == 2


# --- Event -----------------------------------------------------------------------------


def test_event(interp):
    e = manygil.Event()
    assert not e.is_set() and e.wait(0.05) is False and e.wait(-1) is False
    t = interp.call_in_thread(hh.set_once_waited, e)
    assert e.wait(30) is True and e.is_set()
    t.join(10)
    assert interp.call(hh.wait_event, e, 0) is True
    e.clear()
    assert interp.call(hh.wait_event, e, 0.05) is False


def test_blocked_waiters_are_counted_across_interpreters(interp):
    rlock, sem, bsem = manygil.RLock(), manygil.Semaphore(0), manygil.BoundedSemaphore(1)
    rlock.acquire()
    assert bsem.acquire()
    for prim in (rlock, sem, bsem):
        assert prim._n_waiting == 0
        t = interp.call_in_thread(hh.acquire_release, prim, 60)
        wait_for_state(lambda p=prim: p._n_waiting == 1, f"a thread blocks on {prim!r}")
        prim.release()
        t.join(30)
        assert not t.is_alive() and prim._n_waiting == 0


# --- Condition -------------------------------------------------------------------------


def test_condition_producer_consumer_across_interpreters(interp):
    cond, items = manygil.Condition(), manygil.Queue()
    result = {}
    t = threading.Thread(
        target=lambda: result.setdefault("got", interp.call(hh.condition_consumer, cond, items, 20))
    )
    t.start()
    wait_for_state(lambda: cond._n_waiting == 1, "the consumer waits")
    assert hh.condition_producer(cond, items, list(range(20))) == 20
    t.join(60)
    assert result["got"] == list(range(20))


def test_condition_rules():
    cond = manygil.Condition(manygil.Lock())
    with pytest.raises(RuntimeError, match="un-acquired"):
        cond.notify()
    with pytest.raises(RuntimeError, match="un-acquired"):
        cond.wait(0.01)
    with cond:
        t0 = time.monotonic()
        assert cond.wait(0.1) is False
        assert 0.099 <= time.monotonic() - t0 < 10
        assert cond._is_owned()
        cond.notify_all()
        assert cond.wait_for(lambda: 42, 0) == 42
        assert cond.wait_for(lambda: 0, 0.05) == 0
    with pytest.raises(TypeError):
        manygil.Condition(threading.Lock())
    rcond = manygil.Condition(manygil.RLock())
    with rcond, rcond:
        assert rcond.wait(0.01) is False and rcond._is_owned()


def test_condition_notify_wakes_a_waiter_in_this_interpreter():
    cond = manygil.Condition()
    woke = []

    def waiter():
        with cond:
            woke.append(cond.wait(30))

    t = threading.Thread(target=waiter)
    t.start()
    wait_for_state(lambda: cond._n_waiting == 1, "the waiter waits")
    with cond:
        cond.notify()
    t.join(10)
    assert woke == [True]


# --- Barrier ---------------------------------------------------------------------------


def test_barrier_over_four_interpreters():
    interps = [manygil.create() for _ in range(3)]
    barrier, rounds = manygil.Barrier(4), 5
    results = {}
    try:
        threads = [
            threading.Thread(
                target=lambda i=i: results.setdefault(
                    i.id, i.call(hh.barrier_rounds, barrier, rounds)
                )
            )
            for i in interps
        ]
        for t in threads:
            t.start()
        mine = hh.barrier_rounds(barrier, rounds)
        for t in threads:
            t.join(60)
        per_round = list(zip(mine, *results.values(), strict=True))
        assert len(per_round) == rounds
        for indices in per_round:
            assert sorted(indices) == [0, 1, 2, 3]
        assert barrier.n_waiting == 0 and not barrier.broken and barrier.parties == 4
    finally:
        for i in interps:
            i.close()


def test_barrier_timeout_breaks_it_for_everyone(interp):
    barrier = manygil.Barrier(3)
    t = interp.call_in_thread(hh.barrier_wait_catch, barrier, 60)
    wait_for_state(lambda: barrier.n_waiting == 1, "the other party waits")
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(0.1)
    t.join(10)
    assert barrier.broken
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(1)
    barrier.reset()
    assert not barrier.broken
    barrier.abort()
    assert interp.call(hh.barrier_wait_catch, barrier, 1) == "broken"


def test_barrier_arguments():
    with pytest.raises(ValueError):
        manygil.Barrier(0)
    with pytest.raises(ValueError, match="action"):
        manygil.Barrier(2, action=print)
    b = manygil.Barrier(1, timeout=5)
    assert b.wait() == 0 and b.wait() == 0


# --- AtomicInt -------------------------------------------------------------------------


def test_atomic_int_operations():
    a = manygil.AtomicInt(5)
    assert a.get() == 5 and a.add(3) == 8 and a.add(-10) == -2 and a.add() == -1
    a.set(1)
    assert a.swap(7) == 1 and a.get() == 7
    assert a.compare_exchange(7, 9) == (True, 7)
    assert a.compare_exchange(7, 10) == (False, 9)
    big = manygil.AtomicInt(2**63 - 1)
    with pytest.raises(OverflowError):
        big.add(1)
    assert big.get() == 2**63 - 1
    with pytest.raises(OverflowError):
        manygil.AtomicInt(2**64)
    with pytest.raises(TypeError):
        a.set("1")
    assert manygil.AtomicInt().get() == 0


def test_atomic_int_across_interpreters(two_interps):
    counter = manygil.AtomicInt()
    n = 2000
    threads = [i.call_in_thread(hh.atomic_adds, counter, n) for i in two_interps]
    hh.atomic_adds(counter, n)
    for t in threads:
        t.join(60)
    assert counter.get() == 3 * n


# --- passing and identity --------------------------------------------------------------


def test_primitives_travel_as_themselves(interp):
    prims = [
        manygil.Lock(),
        manygil.RLock(),
        manygil.Semaphore(),
        manygil.BoundedSemaphore(),
        manygil.Event(),
        manygil.Condition(),
        manygil.Barrier(2),
        manygil.AtomicInt(),
    ]
    back = interp.call(helpers.identity, prims)
    assert back == prims and [type(p) for p in back] == [type(p) for p in prims]
    q = manygil.Queue()
    for p in prims:
        q.put(p)
    through_queue = [q.get() for _ in prims]
    for p, p2 in zip(prims, through_queue, strict=True):
        assert p == p2 and hash(p) == hash(p2) and type(p) is type(p2)
    interp.prepare_main(prims=prims)
    interp.exec("assert [type(p).__name__ for p in prims][0] == 'Lock'")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_blocked_acquire(tmp_path):
    path = write_script(
        tmp_path,
        """
        import threading, manygil
        from waiting import wait_for_state
        lock = manygil.Lock()
        lock.acquire()

        def ready_once_blocked():
            wait_for_state(lambda: lock._n_waiting > 0, "an acquire blocks")
            print("ready", flush=True)

        threading.Thread(target=ready_once_blocked, daemon=True).start()
        try:
            lock.acquire()
        except KeyboardInterrupt:
            print("interrupted", lock.locked(), flush=True)
        """,
    )
    rc, out, err, _ = sigint_when_ready(path, settle=0)
    assert rc == 0, err
    assert out.strip() == "interrupted True", out + err
