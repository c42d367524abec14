"""manygil.Pool: the concurrent.futures.Executor contract on real interpreters, plus
timeouts, cancellation of running tasks, recycling, asyncio and Ctrl-C."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import gc
import os
import signal
import sys
import threading
import weakref

import handle_helpers as hh
import helpers
import manygil
import pytest
from conftest import run_file, sigint_when_ready, write_script
from manygil import BrokenPool, Pool
from waiting import run_threads, wait_for_state


@pytest.fixture
def pool():
    p = Pool(2)
    yield p
    p.shutdown(wait=True, cancel_futures=True)


# --- the Executor contract ---------------------------------------------------------------


def test_is_an_executor_returning_real_futures(pool):
    assert isinstance(pool, cf.Executor)
    f = pool.submit(helpers.add, 1, 2, c=3)
    assert isinstance(f, cf.Future)
    assert f.result(10) == 6
    assert f.done() and not f.cancelled()


def test_default_max_workers_is_the_cpu_count():
    with Pool() as p:
        expected = getattr(os, "process_cpu_count", os.cpu_count)()
        assert p.max_workers == expected
        assert 1 <= p.stats()["workers"] <= expected  # workers start as work arrives


def test_tasks_run_in_different_interpreters_in_parallel(pool):
    ids = {f.result(10) for f in [pool.submit(helpers.interp_id_after, 0.2) for _ in range(2)]}
    assert len(ids) == 2 and 0 not in ids


@pytest.mark.parametrize("chunksize", [1, 3, 1000])
def test_map_yields_in_order(pool, chunksize):
    assert list(pool.map(helpers.square, range(50), chunksize=chunksize)) == [
        x * x for x in range(50)
    ]
    assert list(pool.map(helpers.add, [1, 2], [10, 20, 30])) == [11, 22]


def test_map_raises_at_the_failing_item(pool):
    it = pool.map(helpers.raise_value_error, ["a"], chunksize=1)
    with pytest.raises(ValueError, match="a"):
        next(it)


def test_map_timeout(pool):
    # spin_then runs Python code, so the timed-out chunk can be interrupted (a C-level
    # time.sleep would only notice once it returns).
    it = pool.map(helpers.spin_then, [30, 0], ["slow", "fast"], timeout=0.2)
    with pytest.raises(TimeoutError):
        list(it)
    assert pool.submit(helpers.add, 1, 1).result(10) == 2, "pool keeps working"


def test_map_buffersize_bounds_submission(pool):
    consumed = []
    for x in pool.map(helpers.square, range(20), chunksize=2, buffersize=2):
        consumed.append(x)
        assert pool.stats()["submitted"] <= len(consumed) // 2 + 3
    assert consumed == [x * x for x in range(20)]


def test_exceptions_are_rebuilt_with_remote_traceback(pool):
    with pytest.raises(helpers.CustomError) as e:
        pool.submit(helpers.raise_custom, 7).result(10)
    assert e.value.code == 7
    assert "raise_custom" in str(e.value.__cause__)


@pytest.mark.parametrize(
    ("fn", "args", "exc"),
    [
        (helpers.raise_system_exit, (3,), SystemExit),
        (helpers.raise_keyboard_interrupt, (), KeyboardInterrupt),
        (helpers.recurse, (0,), RecursionError),
        (helpers.raise_memory_error, (), MemoryError),
    ],
)
def test_base_exceptions_land_on_the_future_and_the_pool_goes_on(pool, fn, args, exc):
    f = pool.submit(fn, *args)
    assert isinstance(f.exception(10), exc)
    assert pool.submit(helpers.add, 2, 2).result(10) == 4


def test_as_completed_and_wait(pool):
    fs = [pool.submit(helpers.sleep_then, 0.05 * i, i) for i in range(6)]
    assert sorted(f.result() for f in cf.as_completed(fs, timeout=30)) == list(range(6))
    done, not_done = cf.wait(fs, timeout=30)
    assert len(done) == 6 and not not_done
    slow = pool.submit(helpers.sleep_then, 0.5, "x")
    done, not_done = cf.wait([slow], timeout=0.01)
    assert not done and not_done == {slow}
    assert slow.result(10) == "x"


def test_done_callbacks_run(pool):
    seen = threading.Event()
    f = pool.submit(helpers.add, 1, 1)
    f.add_done_callback(lambda fut: seen.set() if fut.result() == 2 else None)
    assert seen.wait(10)


def test_shutdown_wait_runs_queued_tasks():
    p = Pool(1)
    fs = [p.submit(helpers.sleep_then, 0.05, i) for i in range(5)]
    p.shutdown(wait=True)
    assert [f.result(0) for f in fs] == list(range(5))


def test_shutdown_cancel_futures_cancels_queued_ones():
    p = Pool(1)
    release = manygil.Event()
    first = p.submit(hh.wait_event, release, 60)
    wait_for_state(first.running, "the first task starts")
    # The only worker is busy until `release` is set: these stay queued.
    rest = [p.submit(helpers.add, i) for i in range(4)]
    p.shutdown(wait=False, cancel_futures=True)
    assert first.running(), "the running task is not cancelled"
    release.set()
    p.shutdown(wait=True)
    assert first.result(0) is True
    assert all(f.cancelled() for f in rest)


def test_submit_after_shutdown_raises_runtime_error():
    p = Pool(1)
    p.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        p.submit(helpers.add, 1)
    with pytest.raises(RuntimeError):
        p.map(helpers.square, [1])


def test_context_manager_shuts_down():
    with Pool(1) as p:
        f = p.submit(helpers.sleep_then, 0.1, "ok")
    assert f.result(0) == "ok"
    with pytest.raises(RuntimeError):
        p.submit(helpers.add, 1)


def test_no_stale_references(pool):
    class Arg:
        pass

    arg = Arg()
    collected = threading.Event()
    ref = weakref.ref(arg, lambda _: collected.set())
    assert pool.submit(helpers.identity, [1, 2]).result(10) == [1, 2]
    f = pool.submit(helpers.add, 1, 2)
    del arg
    gc.collect()
    assert collected.wait(5) and ref() is None
    assert f.result(10) == 3


# --- timeouts, cancellation, recycling ------------------------------------------------------


def test_task_timeout_interrupts_and_the_worker_is_reused():
    with Pool(1, task_timeout=0.3) as p:
        f = p.submit(helpers.spin_forever)
        with pytest.raises(TimeoutError, match="interrupted"):
            f.result(30)
        before = p.stats()["workers"]
        assert p.submit(helpers.add, 1, 1).result(10) == 2
        assert p.stats()["workers"] == before == 1


def test_apply_timeout_per_call(pool):
    f = pool.apply(helpers.spin_forever, timeout=0.2)
    with pytest.raises(TimeoutError):
        f.result(30)
    assert pool.apply(helpers.add, (1, 2), {"c": 3}, timeout=5).result(10) == 6


def test_cancel_interrupts_a_running_task(pool):
    f = pool.submit(helpers.spin_forever)
    wait_for_state(f.running, "the task starts")
    assert f.cancel() and f.cancelled()
    assert pool.submit(helpers.add, 5, 5).result(10) == 10
    wait_for_state(lambda: not pool.stats()["running"], "the cancelled task stops running")


def test_cancel_of_queued_task_skips_it():
    release = manygil.Event()
    with Pool(1) as p:
        busy = p.submit(helpers.wait_event_then, release, "busy")
        queued = p.submit(helpers.add, 1, 1)
        wait_for_state(busy.running, "the only worker runs the first task")
        assert queued.cancel()
        release.set()
        assert busy.result(10) == "busy"
    assert queued.cancelled()
    assert p.stats()["done"] == 1


def test_workers_are_recycled():
    with Pool(1, max_tasks_per_worker=2) as p:
        ids = [p.submit(helpers.interp_id_after).result(10) for _ in range(6)]
        assert len(set(ids)) == 3, ids
        # The last recycle (after task 6) happens just after its result is delivered.
        wait_for_state(lambda: p.stats()["recycled"] >= 3, "the third recycle")
        assert p.stats()["recycled"] == 3  # after tasks 2, 4 and 6


def test_tasks_queued_at_shutdown_run_even_when_the_last_worker_is_recycled():
    p = Pool(1, max_tasks_per_worker=1)
    fs = [p.submit(helpers.add, i, 1) for i in range(4)]
    p.shutdown(wait=True)
    assert [f.result(0) for f in fs] == [1, 2, 3, 4]
    assert p.stats()["workers"] == 0


def test_initializer_runs_in_each_worker():
    with Pool(2, initializer=helpers.initializer_sets, initargs=("hello",)) as p:
        assert p.submit(helpers.read_initialized).result(10) == "hello"


def test_failing_initializer_breaks_the_pool():
    p = Pool(1, initializer=helpers.failing_initializer)
    with pytest.raises(BrokenPool, match="error in initializer"):
        p.submit(helpers.add, 1).result(10)
    assert isinstance(BrokenPool(), cf.BrokenExecutor)
    p.shutdown()


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -1])
def test_bad_max_workers(n):
    with pytest.raises(ValueError, match="max_workers"):
        Pool(n)


def test_bad_chunksize_buffersize_timeout(pool):
    with pytest.raises(ValueError, match="chunksize"):
        pool.map(helpers.square, [1], chunksize=0)
    with pytest.raises(ValueError, match="buffersize"):
        pool.map(helpers.square, [1], buffersize=0)
    with pytest.raises(ValueError, match="timeout"):
        pool.map(helpers.square, [1], timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        pool.apply(helpers.square, (1,), timeout=-0.5)
    with pytest.raises(ValueError, match="task_timeout"):
        Pool(1, task_timeout=-1)


def test_unshareable_task_is_refused_before_queueing(pool):
    before = pool.stats()["submitted"]
    with pytest.raises(manygil.NotShareableError, match="lock"):
        pool.submit(helpers.identity, threading.Lock())
    lock = threading.Lock()

    def closure():
        return lock

    with pytest.raises(manygil.NotShareableError, match=r"closure.__closure__\['lock'\]"):
        pool.submit(closure)
    assert pool.stats()["submitted"] == before


def test_non_isolated_extension_import_error_lands_on_the_future(pool):
    f = pool.submit(helpers.import_module, "readline")
    err = f.exception(10)
    assert isinstance(err, ImportError)
    assert "own-GIL" in str(err) and "readline" in str(err)


# --- asyncio, progress, stats ---------------------------------------------------------------


def test_asyncio_run_in_executor_and_pool_run(pool):
    async def main():
        loop = asyncio.get_running_loop()
        a = await loop.run_in_executor(pool, helpers.add, 1, 2)
        b = await pool.run(helpers.add, 3, 4, c=5)
        c = await asyncio.gather(*(pool.run(helpers.square, i) for i in range(5)))
        return a, b, c

    assert asyncio.run(main()) == (3, 12, [0, 1, 4, 9, 16])


def test_progress_bar_is_drawn_on_stderr(pool, capsys):
    assert list(pool.map(helpers.square, range(10), progress=True)) == [x * x for x in range(10)]
    err = capsys.readouterr().err
    assert "10/10" in err or "10it" in err


def test_stats_count_tasks(pool):
    pool.submit(helpers.add, 1).result(10)
    pool.submit(helpers.raise_value_error).exception(10)
    s = pool.stats()
    assert 1 <= s["workers"] <= 2 and s["done"] >= 1 and s["failed"] >= 1
    assert set(s) >= {"workers", "submitted", "done", "failed", "running", "queued"}


# --- whole programs --------------------------------------------------------------------------


def test_main_script_functions_work(tmp_path):
    path = write_script(
        tmp_path,
        """
        import manygil

        def cube(x):
            return x ** 3

        class Acc:
            def __init__(self, v):
                self.v = v

        def wrap(x):
            return Acc(x)

        if __name__ == "__main__":
            with manygil.Pool(2) as p:
                print(sum(p.map(cube, range(10))), p.submit(wrap, 4).result().v)
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2025", "4"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_map_returns_promptly_and_exits_cleanly(tmp_path):
    path = write_script(
        tmp_path,
        """
        import threading, manygil, helpers
        from waiting import wait_for_state
        with manygil.Pool(2) as p:

            def ready_once_running():
                wait_for_state(lambda: p.stats()["running"] == 2, "two tasks run")
                print("ready", flush=True)

            threading.Thread(target=ready_once_running, daemon=True).start()
            list(p.map(helpers.spin_forever_arg, range(100)))
        """,
    )
    rc, out, err, elapsed = sigint_when_ready(path, settle=0)
    assert "KeyboardInterrupt" in err, err
    assert rc != 0 and rc != -signal.SIGSEGV
    assert "Fatal Python error" not in err and "Segmentation" not in err
    assert elapsed < 15


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_is_refused_while_a_pool_lives(tmp_path):
    path = write_script(
        tmp_path,
        """
        import os, manygil, helpers
        p = manygil.Pool(1)
        try:
            os.fork()
            print("forked!")
        except RuntimeError as e:
            print("refused", "pool worker" in str(e))
        print(p.submit(helpers.add, 1, 1).result())
        p.shutdown()
        pid = os.fork()  # all workers gone: allowed again
        if pid == 0:
            os._exit(0)
        print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["refused", "True", "2", "child", "0"], r.stdout + r.stderr


def test_a_worker_stuck_in_c_code_is_replaced():
    with Pool(1, task_timeout=0.2) as p:
        # The worker imports helpers first, outside the timeout: an interrupt during the
        # import would stop Python code, not the C sleep this test is about.
        assert p.apply(helpers.add, (1, 1), timeout=60).result(60) == 2
        stuck = p.submit(helpers.sleep_through_interrupts, 4)
        # The timeout interrupts it, but the C sleep cannot notice before it returns (on
        # 3.15+ it can, and the task then goes back to sleep): after the grace period the
        # worker is replaced and the pool keeps serving.
        assert p.submit(helpers.add, 1, 1).result(15) == 2
        assert p.stats()["replaced"] == 1
        with pytest.raises(TimeoutError):
            stuck.result(15)


def _interp_id():
    import _interpreters

    return _interpreters.get_current()[0]


def test_worker_threads_are_named_after_their_interpreter():
    # What top -H, ps -L and py-spy show (issue 24, item 7).
    import os

    def names():
        out = set()
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    out.add(f.read().strip())
            except OSError:
                pass
        return out

    with manygil.Pool(1) as pool:
        ident = pool.submit(_interp_id).result()
        assert f"manygil-w{ident}" in names()


def test_many_callers_polling_at_once_each_get_their_own_outcomes(pool):
    """Callers polling in ``result()`` deliver outcomes that workers left for them, theirs
    or another caller's: with four threads waiting at once, every future gets exactly its
    own outcome (values and exceptions), each done-callback runs once, and none hangs."""
    called = []
    lock = threading.Lock()

    def done(f):
        with lock:
            called.append(f)

    def caller(k):
        for i in range(300):
            if i % 7 == 0:
                f = pool.submit(helpers.raise_value_error, i)
                f.add_done_callback(done)
                with pytest.raises(ValueError):
                    f.result(60)
            else:
                f = pool.submit(helpers.add, k * 1000, i)
                f.add_done_callback(done)
                assert f.result(60) == k * 1000 + i

    run_threads(caller, args=[(k,) for k in range(4)])
    assert len(called) == 4 * 300 and len({id(f) for f in called}) == 4 * 300
