"""manygil.Queue: one queue shared by every interpreter and thread (real interpreters)."""

from __future__ import annotations

import asyncio
import collections
import os
import queue as stdqueue
import subprocess
import sys
import threading
import time

import handle_helpers as hh
import helpers
import manygil
import pytest
from conftest import sigint_when_ready, write_script
from waiting import wait_for_state

# --- basics ----------------------------------------------------------------------------


def test_fifo_sizes_and_properties():
    q = manygil.Queue(3)
    assert (q.maxsize, q.qsize(), q.empty(), q.full(), q.closed) == (3, 0, True, False, False)
    for i in range(3):
        q.put(i)
    assert (q.qsize(), q.empty(), q.full()) == (3, False, True)
    assert [q.get(), q.get_nowait(), q.get(block=False)] == [0, 1, 2]
    assert manygil.Queue().maxsize == 0


def test_items_are_copied_through_the_codec():
    q = manygil.Queue()
    items = [
        None,
        1,
        2**100,
        1.5,
        "ü",
        b"x",
        bytearray(b"y"),
        (1, [2, {3: 4}]),
        helpers.Point(1, 2),
    ]
    for item in items:
        q.put(item)
    out = [q.get() for _ in items]
    assert out == items
    mutable = [1]
    q.put(mutable)
    assert q.get() is not mutable


def test_bad_maxsize():
    with pytest.raises(ValueError, match="maxsize"):
        manygil.Queue(-1)
    with pytest.raises(TypeError):
        manygil.Queue("3")
    with pytest.raises(TypeError):
        manygil.Queue(1, 2)


def test_exception_hierarchy():
    assert issubclass(manygil.QueueEmpty, manygil.QueueError)
    assert issubclass(manygil.QueueEmpty, stdqueue.Empty)
    assert issubclass(manygil.QueueFull, manygil.QueueError)
    assert issubclass(manygil.QueueFull, stdqueue.Full)
    assert issubclass(manygil.QueueClosed, manygil.QueueError)
    if hasattr(stdqueue, "ShutDown"):
        assert issubclass(manygil.QueueClosed, stdqueue.ShutDown)


def test_nowait_errors():
    q = manygil.Queue(1)
    with pytest.raises(manygil.QueueEmpty):
        q.get_nowait()
    with pytest.raises(stdqueue.Empty):
        q.get(block=False)
    q.put_nowait(1)
    with pytest.raises(manygil.QueueFull):
        q.put_nowait(2)
    with pytest.raises(stdqueue.Full):
        q.put(2, block=False, timeout=5)  # timeout ignored when not blocking
    assert q.get() == 1


def test_timeouts_are_honoured():
    q = manygil.Queue(1)
    t0 = time.monotonic()
    with pytest.raises(manygil.QueueEmpty):
        q.get(timeout=0.25)
    waited = time.monotonic() - t0
    assert 0.249 <= waited < 10
    q.put(1)
    t0 = time.monotonic()
    with pytest.raises(manygil.QueueFull):
        q.put(2, timeout=0.1)
    waited = time.monotonic() - t0
    assert 0.099 <= waited < 10
    assert q.get(timeout=0) == 1


def test_bad_timeouts():
    q = manygil.Queue()
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    with pytest.raises(ValueError):
        q.put(1, timeout=float("nan"))
    with pytest.raises(TypeError):
        q.get(timeout="1")
    with pytest.raises(TypeError):
        q.get(nope=1)
    assert q.qsize() == 0


def test_unshareable_item_leaves_queue_unchanged():
    q = manygil.Queue()
    q.put(1)
    with pytest.raises(manygil.NotShareableError):
        q.put(threading.Lock())
    with pytest.raises(manygil.NotShareableError):
        q.put_nowait(i for i in range(3))  # generators cannot be pickled
    assert q.qsize() == 1 and q.get() == 1


def test_close_semantics():
    q = manygil.Queue()
    q.put(1)
    q.put(2)
    q.close()
    q.close()  # idempotent
    assert q.closed
    with pytest.raises(manygil.QueueClosed):
        q.put(3)
    with pytest.raises(manygil.QueueClosed):
        q.put_nowait(3)
    assert q.get() == 1
    assert list(q) == [2]
    with pytest.raises(manygil.QueueClosed):
        q.get(timeout=5)
    with pytest.raises(manygil.QueueClosed):
        q.get_nowait()


def test_close_wakes_blocked_getters_and_putters():
    empty, full = manygil.Queue(), manygil.Queue(1)
    full.put(0)
    errors = []

    def blocked(fn):
        try:
            fn()
        except manygil.QueueClosed as e:
            errors.append(type(e))

    threads = [
        threading.Thread(target=blocked, args=(lambda: empty.get(timeout=30),)),
        threading.Thread(target=blocked, args=(lambda: full.put(1, timeout=30),)),
    ]
    for t in threads:
        t.start()
    wait_for_state(
        lambda: empty._getters_waiting == 1 and full._putters_waiting == 1,
        "the getter and the putter block",
    )
    empty.close()
    full.close()
    for t in threads:
        t.join(10)
    assert errors == [manygil.QueueClosed, manygil.QueueClosed]
    assert full.get() == 0, "the waiting putter put nothing"


def test_equality_hash_and_repr():
    a, b = manygil.Queue(), manygil.Queue(2)
    assert a == a and a != b and hash(a) == hash(a)
    assert a != 1 and (a == 1) is False
    assert "manygil.Queue" in repr(b) and "maxsize=2" in repr(b)
    assert type(a).__module__ == "manygil" and type(a).__name__ == "Queue"
    with pytest.raises(TypeError):

        class Sub(manygil.Queue):  # final, like the stdlib's handle types
            pass


# --- across interpreters ---------------------------------------------------------------


def test_same_queue_in_another_interpreter(two_interps):
    a, b = two_interps
    q = manygil.Queue()
    assert a.call(hh.put_one, q, "by argument")
    a.prepare_main(q=q)
    a.exec("q.put('through prepare_main')")
    carrier = manygil.Queue()
    carrier.put(q)
    assert b.call(hh.queue_from_queue, carrier) == 3
    assert [q.get(timeout=5) for _ in range(3)] == [
        "by argument",
        "through prepare_main",
        "through a queue",
    ]
    assert a.call(hh.same_handles, q, q)
    a.prepare_main(q2=q)
    a.exec("assert q == q2 and hash(q) == hash(q2) and q is not q2")
    assert a.call(helpers.identity, q) == q, "a handle sent back is the same queue"


def test_close_is_seen_everywhere(interp):
    q = manygil.Queue()
    interp.prepare_main(q=q)
    q.put("last")
    q.close()
    assert interp.call(hh.consume_until_closed, q) == ["last"]
    interp.exec("assert q.closed")


def test_ping_pong_between_two_interpreters(two_interps):
    a, b = two_interps
    q_ab, q_ba = manygil.Queue(), manygil.Queue()
    n = 2000
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("pong", b.call(hh.pong, q_ab, q_ba, n)))
    t.start()
    assert a.call(hh.ping, q_ab, q_ba, n) == n
    t.join(60)
    assert result == {"pong": n}


def test_mpmc_stress_every_item_exactly_once():
    q = manygil.Queue(maxsize=64)
    interps = [manygil.create() for _ in range(4)]
    per = 3000
    results: dict[str, object] = {}
    lock = threading.Lock()

    def run(name, fn):
        try:
            r = fn()
        except BaseException as e:  # surfaced by the asserts below
            r = e
        with lock:
            results[name] = r

    producers = [
        threading.Thread(target=run, args=("p0", lambda: interps[0].call(hh.produce, q, 0, per))),
        threading.Thread(target=run, args=("p1", lambda: interps[1].call(hh.produce, q, per, per))),
        threading.Thread(target=run, args=("p2", lambda: hh.produce(q, 2 * per, per))),
        threading.Thread(target=run, args=("p3", lambda: hh.produce(q, 3 * per, per))),
    ]
    consumers = [
        threading.Thread(
            target=run, args=("c0", lambda: interps[2].call(hh.consume_until_closed, q))
        ),
        threading.Thread(
            target=run, args=("c1", lambda: interps[3].call(hh.consume_until_closed, q))
        ),
        threading.Thread(target=run, args=("c2", lambda: hh.consume_until_closed(q))),
        threading.Thread(target=run, args=("c3", lambda: hh.consume_until_closed(q))),
    ]
    try:
        for t in consumers + producers:
            t.start()
        for t in producers:
            t.join(90)
        assert [results.get(f"p{i}") for i in range(4)] == [per] * 4, results
        q.close()
        for t in consumers:
            t.join(90)
        got = [results[f"c{i}"] for i in range(4)]
        for g in got:
            assert isinstance(g, list), g
        everything = [x for g in got for x in g]
        total = 4 * per
        assert len(everything) == total
        assert sum(everything) == total * (total - 1) // 2
        assert collections.Counter(everything) == collections.Counter(range(total))
        for g in got:  # each consumer sees each producer's items in order
            for p in range(4):
                mine = [x for x in g if p * per <= x < (p + 1) * per]
                assert mine == sorted(mine)
    finally:
        q.close()
        for i in interps:
            i.close()


def test_wait_any(interp):
    a, b, c = manygil.Queue(), manygil.Queue(), manygil.Queue()
    assert manygil.wait_any([a, b], timeout=0.05) is None
    b.put(1)
    assert manygil.wait_any([a, b, c], timeout=5) is b
    assert a.empty() and b.qsize() == 1, "nothing is taken"
    a.put(2)
    assert manygil.wait_any((a, b), timeout=0) is a, "the first ready one"
    assert [a.get(), b.get()] == [2, 1]
    t = interp.call_in_thread(hh.put_once_subscribed, c, "late")
    assert manygil.wait_any(iter([a, b, c]), timeout=30) is c
    t.join(10)
    b.close()
    assert manygil.wait_any([a, b]) is b, "a closed queue is ready"


def test_wait_any_bad_input():
    with pytest.raises(ValueError):
        manygil.wait_any([])
    with pytest.raises(TypeError):
        manygil.wait_any([manygil.Queue(), stdqueue.Queue()])
    with pytest.raises(ValueError):
        manygil.wait_any([manygil.Queue()], timeout=-1)


# --- asyncio ---------------------------------------------------------------------------


def test_aget_does_not_block_the_loop(interp):
    q = manygil.Queue()

    ticked = manygil.Event()

    async def main():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                if ticks == 3:
                    ticked.set()
                await asyncio.sleep(0.001)

        # The item comes only once the loop has ticked 3 times while aget waits (or, if aget
        # blocked the loop, after 30 s with no tick: then the assertion below fails).
        t = interp.call_in_thread(hh.put_when_set, ticked, q, "hello", 30)
        getter = asyncio.ensure_future(q.aget())
        tick = asyncio.ensure_future(ticker())
        got = await asyncio.wait_for(getter, 60)
        done.set()
        await tick
        t.join(10)
        return got, ticks

    got, ticks = asyncio.run(main())
    assert got == "hello"
    assert ticks >= 3, "the loop kept running while aget waited"


def test_aput_waits_for_room_and_many_agets(interp):
    q = manygil.Queue(1)
    q.put("first")

    async def main():
        t = interp.call_in_thread(hh.get_one, q, 10)
        await asyncio.wait_for(q.aput("second"), 10)
        t.join(10)
        assert q.get_nowait() == "second"
        getters = [asyncio.ensure_future(q.aget()) for _ in range(5)]
        while q._n_subscribed < 5:  # every aget waits on the queue
            await asyncio.sleep(0.001)
        p = interp.call_in_thread(hh.produce, q, 100, 5)
        got = await asyncio.wait_for(asyncio.gather(*getters), 20)
        p.join(10)
        return sorted(got)

    assert asyncio.run(main()) == [100, 101, 102, 103, 104]


def test_cancelled_aget_takes_nothing_and_closed_raises():
    q = manygil.Queue()

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.aget(), 0.1)
        q.put("kept")
        assert q.get_nowait() == "kept"
        waiter = asyncio.ensure_future(q.aget())
        while q._n_subscribed < 1:  # the aget waits on the queue
            await asyncio.sleep(0.001)
        q.close()
        with pytest.raises(manygil.QueueClosed):
            await asyncio.wait_for(waiter, 10)
        with pytest.raises(manygil.QueueClosed):
            await q.aput(1)

    asyncio.run(main())


def test_asyncio_in_another_interpreter(interp):
    interp.exec(
        "import asyncio, manygil\n"
        "q = manygil.Queue(1)\n"
        "async def main():\n"
        "    await q.aput(1)\n"
        "    return await q.aget()\n"
        "assert asyncio.run(main()) == 1\n"
    )


# --- interrupts ------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_blocked_get(tmp_path):
    path = write_script(
        tmp_path,
        """
        import threading, manygil
        from waiting import wait_for_state
        q = manygil.Queue()

        def ready_once_blocked():
            wait_for_state(lambda: q._getters_waiting > 0, "a get blocks")
            print("ready", flush=True)

        threading.Thread(target=ready_once_blocked, daemon=True).start()
        try:
            q.get()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        q.put(1)
        print("still usable", q.get(timeout=5), flush=True)
        """,
    )
    rc, out, err, elapsed = sigint_when_ready(path, settle=0)
    assert rc == 0, err
    assert out.split("\n")[:2] == ["interrupted", "still usable 1"], out + err
    assert elapsed < 10


def test_exit_interrupts_an_interpreter_blocked_in_get(tmp_path):
    path = write_script(
        tmp_path,
        """
        import manygil, handle_helpers
        from manygil import _native
        from waiting import wait_for_state
        a = manygil.create()
        q = manygil.Queue()
        pending = _native.submit(a.id, handle_helpers.get_one, (q,), {})  # blocks forever
        wait_for_state(lambda: q._getters_waiting > 0, "the interpreter blocks in get")
        print("exiting", a.is_running(), q._getters_waiting, flush=True)
        """,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "exiting True 1"
