"""Reliability (issue 14): no timeout value, cancellation, signal or stuck call may crash,
hang, leak or lose a future. Each test names the behaviour it guards."""

from __future__ import annotations

import concurrent.futures as cf
import gc
import math
import os

import helpers
import manygil
import pytest
from conftest import run_file, sigint_when_ready, write_script
from manygil import Pool, _native
from waiting import wait_for_state

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


# --- helpers -----------------------------------------------------------------------------


def idle(p):
    s = p.stats()
    return s["queued"] == 0 and s["running"] == 0


# --- cancellation: queued work is dropped, never started then interrupted -------------------


def test_closing_a_map_early_skips_queued_chunks_before_interrupting_running_ones():
    with Pool(2) as p:
        it = p.map(helpers.spin_unless_zero, range(200))
        assert next(it) == 0
        wait_for_state(lambda: p.stats()["running"] == 2, "two chunks running")
        it.close()
        wait_for_state(lambda: idle(p), "the pool to settle")
        s = p.stats()
        # Exactly the two running chunks were interrupted (they count as cancelled, not
        # failed); every queued one was skipped.
        assert s["failed"] == 0
        assert s["cancelled"] == s["submitted"] - 1


def test_cancelling_futures_in_submission_order_starts_few_of_them():
    with Pool(2) as p:
        fs = [p.submit(helpers.spin_forever) for _ in range(200)]
        wait_for_state(lambda: p.stats()["running"] == 2, "two tasks running")
        assert all(f.cancel() for f in fs)
        wait_for_state(lambda: idle(p), "the pool to settle")
        # Cancelling a running task no longer blocks the canceller while a worker moves on
        # to the next queued task: (nearly) all queued tasks are skipped, not started.
        assert p.stats()["cancelled"] >= 150
        assert all(f.cancelled() for f in fs)


# --- stuck in C: the future times out at its timeout; shutdown does not wait -------------


def test_task_stuck_in_c_times_out_at_its_timeout_and_shutdown_does_not_wait():
    r, w = os.pipe()
    try:
        p = Pool(1, task_timeout=0.5)
        assert p.apply(helpers.add, (1, 2), timeout=60).result(60) == 3  # imports helpers
        f = p.submit(helpers.read_fd_through_interrupts, r)
        done, _ = cf.wait([f], timeout=60)
        assert f in done
        assert isinstance(f.exception(), TimeoutError)
        # The pool replaces the stuck worker and keeps serving.
        assert p.submit(helpers.add, 1, 2).result(60) == 3
        wait_for_state(lambda: p.stats()["replaced"] == 1, "the stuck worker to be replaced")
        p.shutdown(wait=True)  # returns although the old worker is still in os.read()
    finally:
        os.write(w, b"x")
        os.close(w)
        os.close(r)


def test_a_task_stuck_in_c_holding_its_gil_is_replaced_and_does_not_block_the_pool():
    # Interrupting takes the task's GIL, which this task keeps until its C call returns:
    # the watchdog must not wait for it, or the stuck worker is never replaced and the
    # pool (and shutdown, and process exit) waits for the call.
    done = manygil.Event()
    with Pool(1, task_timeout=0.2) as p:
        # The worker imports this test's helpers first (outside the timeout: on a loaded
        # machine the import alone can take longer, and the interrupt would then stop
        # Python code, not the C call this test is about).
        assert p.apply(helpers.add, (1, 2), timeout=60).result(60) == 3
        f = p.submit(helpers.hold_gil_in_c, 8, done)
        assert isinstance(f.exception(timeout=60), TimeoutError)
        wait_for_state(lambda: p.stats()["replaced"] == 1, "the stuck worker to be replaced")
        assert not done.is_set()  # replaced while the call still holds its GIL
        assert p.submit(helpers.add, 1, 2).result(60) == 3
    assert done.wait(60)  # the old worker leaves once its call returns


def test_an_interrupt_wakes_a_blocking_read_where_cpython_allows_it():
    # 3.15+ raises a pending interrupt when a blocking call is retried after a signal
    # (gh-144748): manygil signals the worker, so the read stops at the timeout and the
    # worker is kept. Before 3.15 the read restarts: the worker is replaced instead.
    import sys

    r, w = os.pipe()
    try:
        with Pool(1, task_timeout=0.3) as p:
            assert p.apply(helpers.add, (1, 2), timeout=60).result(60) == 3  # imports helpers
            f = p.submit(helpers.read_fd, r)
            assert isinstance(f.exception(timeout=60), TimeoutError)
            if sys.version_info >= (3, 15):
                wait_for_state(lambda: p.stats()["running"] == 0, "the read to be interrupted")
                assert p.stats()["replaced"] == 0
            else:
                wait_for_state(lambda: p.stats()["replaced"] == 1, "the stuck worker replaced")
    finally:
        os.write(w, b"x")
        os.close(w)
        os.close(r)


def test_ctrl_c_while_shutdown_waits_raises_promptly(tmp_path):
    path = write_script(
        tmp_path,
        """
        import manygil, helpers
        with manygil.Pool(1) as p:
            fs = [p.submit(helpers.spin_forever) for _ in range(20)]
            print("ready", flush=True)
        """,
    )
    rc, out, err, _ = sigint_when_ready(path, settle=0.5)
    assert "KeyboardInterrupt" in err, err
    assert rc != 0


# --- process exit does not wait for a worker stuck in C --------------------------------------

# Two tasks stuck in C calls that no interrupt or signal can end early: process exit must
# not wait for them (it ends the process without finalizing, after a grace period), and
# must keep the exit status, the traceback and what was written to stdout before.
STUCK_AT_EXIT = """
    import sys, time
    import manygil, helpers

    def start_stuck(p):
        # Both workers import helpers first, outside any task timeout (see
        # test_a_task_stuck_in_c_holding_its_gil_is_replaced_and_does_not_block_the_pool).
        warm = [p.apply(helpers.sleep_then, (0.3, i), timeout=60) for i in range(2)]
        assert [f.result() for f in warm] == [0, 1]
        started = [manygil.Event(), manygil.Event()]
        fs = [
            p.submit(helpers.sleep_through_interrupts, 60, started[0]),
            p.submit(helpers.recv_forever, started[1]),
        ]
        for e in started:
            e.wait()
        return fs

    mode = sys.argv[1]
    if mode == "ctrl-c":
        with manygil.Pool(2) as p:
            fs = start_stuck(p)
            print("written before", flush=False)
            print("ready", file=sys.stderr, flush=True)
            fs[0].result()
    elif mode == "sys.exit":
        with manygil.Pool(2) as p:
            start_stuck(p)
            print("written before", flush=False)
            sys.exit(3)
    elif mode == "task_timeout":
        with manygil.Pool(2, task_timeout=0.2) as p:
            for f in start_stuck(p):
                assert isinstance(f.exception(), TimeoutError)
        print("written before", flush=False)
        if len(sys.argv) > 2:
            raise ValueError(sys.argv[2])
    elif mode == "create":
        import threading
        it = manygil.create()
        # A daemon thread: CPython does not wait for it, only manygil's exit hook does.
        started = manygil.Event()
        threading.Thread(
            target=it.call, args=(helpers.sleep_through_interrupts, 60, started), daemon=True
        ).start()
        started.wait()
        print("written before", flush=False)
"""


def run_stuck_at_exit(tmp_path, *args, sigint=False):
    """Run STUCK_AT_EXIT in a fresh process (waiting on it, never on a sleep); returns
    ``(returncode, stdout, stderr)``. The bound (40 s) is far below the stuck calls' 60 s
    and infinity, far above the exit grace period."""
    import signal
    import subprocess
    import sys

    path = write_script(tmp_path, STUCK_AT_EXIT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(
        [sys.executable, path, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        if sigint:
            assert proc.stderr.readline().strip() == "ready"
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
    return proc.returncode, out, err


def assert_ended_without_waiting(out, err):
    assert "written before" in out, (out, err)
    assert "ending the process without finalizing" in err, err


def test_ctrl_c_with_tasks_stuck_in_c_exits_promptly_by_sigint(tmp_path):
    import signal

    rc, out, err = run_stuck_at_exit(tmp_path, "ctrl-c", sigint=True)
    assert_ended_without_waiting(out, err)
    assert "KeyboardInterrupt" in err, err
    assert rc == -signal.SIGINT, (rc, err)


def test_sys_exit_leaving_a_pool_with_tasks_stuck_in_c_keeps_its_code(tmp_path):
    rc, out, err = run_stuck_at_exit(tmp_path, "sys.exit")
    assert_ended_without_waiting(out, err)
    assert rc == 3, (rc, err)


def test_script_ending_after_tasks_timed_out_in_c_exits_promptly_with_status_0(tmp_path):
    rc, out, err = run_stuck_at_exit(tmp_path, "task_timeout")
    assert_ended_without_waiting(out, err)
    assert rc == 0, (rc, err)


def test_uncaught_exception_after_tasks_timed_out_in_c_exits_promptly_with_status_1(tmp_path):
    rc, out, err = run_stuck_at_exit(tmp_path, "task_timeout", "boom-42")
    assert_ended_without_waiting(out, err)
    assert "ValueError: boom-42" in err, err
    assert rc == 1, (rc, err)


def test_interpreter_stuck_in_c_at_exit_does_not_hold_up_exit(tmp_path):
    rc, out, err = run_stuck_at_exit(tmp_path, "create")
    assert_ended_without_waiting(out, err)
    assert rc == 0, (rc, err)


# --- workers start as work arrives; memory stays bounded -----------------------------------


def test_workers_start_as_work_arrives_up_to_max_workers():
    release = manygil.Event()
    with Pool(10_000) as p:
        assert p.stats()["workers"] == 1  # nothing proportional to max_workers up front
        fs = [p.submit(helpers.ignore_interrupts_until_set, release) for _ in range(3)]
        wait_for_state(lambda: p.stats()["running"] == 3, "three workers running")
        assert p.stats()["workers"] == 3
        release.set()
        assert [f.result(60) for f in fs] == ["released"] * 3


@pytest.mark.parametrize("n", [2**63, 2**64, 10**30])
def test_max_workers_too_large_is_refused_naming_it(n):
    with pytest.raises(OverflowError, match="max_workers"):
        Pool(n)


def test_huge_max_workers_that_fits_costs_nothing_up_front():
    with Pool(2**62) as p:
        assert p.submit(helpers.add, 2, 2).result(60) == 4
        assert p.stats()["workers"] <= 2


def test_map_submits_a_bounded_window_ahead_of_the_consumer():
    with Pool(2) as p:
        it = p.map(helpers.square, range(10**6))
        assert [next(it) for _ in range(100)] == [x * x for x in range(100)]
        # Memory is bounded by the window, not by the million items.
        assert p.stats()["submitted"] < 1000
        it.close()


# --- leaks: dropped pools and interpreters are reclaimed ------------------------------------


def os_threads():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("how", ["dropped", "shutdown(wait=False)"])
def test_pools_not_waited_for_are_reclaimed(how):
    before = os_threads()
    for _ in range(20):
        p = Pool(1)
        assert p.submit(helpers.add, 1, 1).result(60) == 2
        if how != "dropped":
            p.shutdown(wait=False)
        del p
    gc.collect()
    # Each pool had a worker and a watchdog thread: all of them end.
    wait_for_state(lambda: os_threads() <= before, "the pools' threads to end")


def test_dropped_interpreters_are_closed():
    before = os_threads()
    ids = []
    for _ in range(10):
        i = manygil.create()
        assert i.call(helpers.add, 1, 1) == 2
        ids.append(i.id)
        del i
    gc.collect()
    alive = lambda: {i.id for i in manygil.list_all()} & set(ids)  # noqa: E731
    wait_for_state(lambda: not alive(), "the dropped interpreters to close")
    wait_for_state(lambda: os_threads() <= before, "their threads to end")


def test_interpreters_not_owned_by_the_dropped_object_stay(interp):
    other = manygil.Interpreter(interp.id)  # the owning object is alive: same object
    assert other is interp
    del other
    gc.collect()
    assert interp.call(helpers.add, 2, 2) == 4


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


# --- stats() (issue 23, item 4) ------------------------------------------------------------

_GAUGES = ("done", "failed", "cancelled", "running", "queued")


def _adds_up(stats) -> bool:
    return stats["submitted"] == sum(stats[k] for k in _GAUGES) and all(
        stats[k] >= 0 for k in ("submitted", *_GAUGES)
    )


def test_a_cancelled_running_task_counts_as_cancelled_not_failed():
    with Pool(1) as p:
        assert p.submit(helpers.add, 1, 2).result(60) == 3
        f = p.submit(helpers.spin_forever)
        wait_for_state(f.running, "the task to start")
        assert f.cancel()
        stats = p.stats()
        assert (stats["cancelled"], stats["failed"], stats["running"]) == (1, 0, 0), stats
        # One worker: this runs once the cancelled task has stopped; nothing is recounted.
        assert p.submit(helpers.add, 2, 2).result(60) == 4
        stats = p.stats()
    expected = {"submitted": 3, "done": 2, "failed": 0, "cancelled": 1, "running": 0}
    assert {k: stats[k] for k in expected} == expected, stats


def test_a_timed_out_task_stuck_in_c_leaves_running_at_its_timeout():
    r, w = os.pipe()
    try:
        with Pool(1) as p:
            assert p.apply(helpers.add, (1, 2), timeout=60).result(60) == 3
            f = p.apply(helpers.read_fd_through_interrupts, (r,), timeout=0.3)
            assert isinstance(f.exception(timeout=60), TimeoutError)
            stats = p.stats()  # the task is still in os.read(): it failed, it is not running
            assert (stats["failed"], stats["running"], stats["done"]) == (1, 0, 1), stats
            assert _adds_up(stats), stats
            os.write(w, b"x")  # the stuck task returns now: it must not count again
            # Runs after the stuck task has returned (its worker, or after the grace period
            # a replacement: either way the pool has seen the stuck task's outcome, or
            # will never see it).
            assert p.submit(helpers.add, 2, 2).result(60) == 4
            stats = p.stats()
            assert (stats["submitted"], stats["done"], stats["failed"]) == (3, 2, 1), stats
            assert _adds_up(stats), stats
    finally:
        os.close(w)
        os.close(r)


def test_stats_add_up_at_every_moment_under_random_submit_cancel_and_timeout():
    import threading
    import warnings

    import refused_helpers
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    ops = st.lists(
        st.one_of(
            st.tuples(st.just("quick"), st.integers(0, 9)),
            st.tuples(st.just("spin"), st.integers(1, 30)),  # milliseconds, interruptible
            st.tuples(st.just("timeout"), st.integers(1, 30)),  # times out after this many ms
            st.tuples(st.just("process"), st.integers(0, 9)),  # a fallback task
            st.tuples(st.just("cancel"), st.integers(0, 50)),  # cancel an earlier task
        ),
        max_size=40,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", manygil.FallbackWarning)
        p = Pool(2, fallback="process")
    bad: list = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            stats = p.stats()
            if not _adds_up(stats):
                bad.append(stats)

    sampler = threading.Thread(target=sample)
    sampler.start()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops)
    def run(ops):
        before = p.stats()["submitted"]
        futures: list[cf.Future] = []
        for kind, n in ops:
            if kind == "cancel":
                if futures:
                    futures[n % len(futures)].cancel()
                continue
            if kind == "quick":
                f = p.submit(helpers.add, n, 1)
            elif kind == "spin":
                f = p.submit(helpers.spin_then, n / 1000, n)
            elif kind == "timeout":
                f = p.apply(helpers.spin_then, (60, n), timeout=n / 1000)
            else:
                f = p.submit(refused_helpers.square, n)
            futures.append(f)
        done, pending = cf.wait(futures, timeout=120)
        assert not pending
        wait_for_state(
            lambda: p.stats()["running"] + p.stats()["queued"] == 0, "the pool to settle"
        )
        stats = p.stats()
        assert stats["submitted"] - before == len(futures)
        assert _adds_up(stats), stats
        assert not bad, bad[:3]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", manygil.FallbackWarning)
            run()
    finally:
        stop.set()
        sampler.join()
        p.shutdown(wait=True, cancel_futures=True)
    assert not bad, bad[:3]


# --- issue 23, item 5: a value too large to copy is a MemoryError, never an abort -----------

TOO_LARGE_TO_COPY = """
import resource, manygil
resource.setrlimit(resource.RLIMIT_AS, (4_000_000_000, 4_000_000_000))

def make(n):
    return b"x" * n  # fits once under the limit; its copy for the caller does not

N = 2_200_000_000
with manygil.create() as it:
    try:
        it.call(make, N)
    except manygil.ExecutionFailed as e:
        print("call:", e.excinfo.type.__name__)
with manygil.Pool(1) as pool:
    try:
        pool.submit(make, N).result(120)
    except MemoryError:
        print("pool: MemoryError")
    print("still works:", pool.submit(make, 3).result(60))
"""


def test_a_result_too_large_to_copy_raises_memoryerror_instead_of_aborting(tmp_path):
    r = run_file(write_script(tmp_path, TOO_LARGE_TO_COPY), timeout=240)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.splitlines() == [
        "call: MemoryError",
        "pool: MemoryError",
        "still works: b'xxx'",
    ], r.stdout + r.stderr[-2000:]
