"""``Pool(fallback="process")``: tasks whose function needs a non-isolated extension run
in process workers; everything else behaves as for interpreter tasks.

``refused_helpers`` imports readline (refused in own-GIL interpreters in every CPython
build), so most tests need no third-party package; numpy/Pillow tests skip where their
wheels are not installed (the 3.13 debug build)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import warnings

import ext_helpers
import helpers
import manygil
import pytest
import refused_helpers
from conftest import run_file, write_script
from manygil import FallbackWarning, Pool
from waiting import wait_for_state


@pytest.fixture
def pool():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        p = Pool(2, fallback="process")
        yield p
        p.shutdown(wait=True, cancel_futures=True)


def test_submit_runs_refused_functions_in_a_process_and_warns_once():
    with Pool(2, fallback="process") as p:
        with pytest.warns(FallbackWarning, match=r"readline cannot be imported") as w:
            assert p.submit(refused_helpers.square, 7).result(timeout=120) == 49
        assert "refused_helpers.square" in str(w[0].message)
        assert w[0].filename == __file__, "the warning points at the caller's submit"
        with warnings.catch_warnings():
            warnings.simplefilter("error", FallbackWarning)
            assert p.submit(refused_helpers.pid).result(timeout=60) != os.getpid()
            assert p.submit(refused_helpers.square, 3).result(timeout=60) == 9
        assert p.submit(helpers.current_id).result(timeout=60) > 0, "others stay in interpreters"
        stats = p.stats()
        assert stats["fallback"] == 3
        assert (stats["submitted"], stats["done"]) == (4, 4), "process tasks count too"


def test_map_in_order_with_chunks(pool):
    got = list(pool.map(refused_helpers.square, range(20), chunksize=3, timeout=120))
    assert got == [x * x for x in range(20)]
    assert pool.stats()["fallback"] == 7  # ceil(20 / 3) chunks


def test_exceptions_come_back_as_raised(pool):
    f = pool.submit(refused_helpers.raise_value_error, "bad input")
    with pytest.raises(ValueError, match="bad input"):
        f.result(timeout=120)
    with pytest.raises(ValueError, match="in map"):
        list(pool.map(refused_helpers.raise_value_error, ["in map"]))


def test_timeout_interrupts_the_process_task_and_the_worker_is_reused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        with Pool(1, fallback="process") as p:
            assert p.submit(refused_helpers.square, 2).result(timeout=120) == 4
            first_pid = p.submit(refused_helpers.pid).result(timeout=60)
            f = p.apply(refused_helpers.sleep_for, (60,), timeout=0.5)
            with pytest.raises(TimeoutError, match="past its timeout"):
                f.result(timeout=30)
            assert p.submit(refused_helpers.pid).result(timeout=30) == first_pid


def test_pool_task_timeout_applies_to_map_chunks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        with Pool(1, fallback="process", task_timeout=0.5) as p:
            with pytest.raises(TimeoutError):
                list(p.map(refused_helpers.sleep_for, [60]))


def test_map_timeout_raises_from_next(pool):
    it = pool.map(refused_helpers.sleep_for, [30, 30], timeout=0.5)
    with pytest.raises(TimeoutError):
        next(it)


def test_cancel_interrupts_a_running_process_task():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        with Pool(1, fallback="process") as p:
            buf = manygil.SharedBuffer(1)
            f = p.submit(refused_helpers.flag_then_sleep, buf, 60)
            wait_for_state(lambda: buf[0] == 1, "the task starts", timeout=120)
            assert f.cancel()
            assert f.cancelled()
            # One process worker: the next task runs only if the sleeping one stopped.
            assert p.submit(refused_helpers.square, 5).result(timeout=30) == 25


def test_cancel_a_queued_process_task(pool):
    pool.submit(refused_helpers.square, 1).result(timeout=120)  # processes started
    # Flags shared with the processes: [0] releases the blockers, [1] and [2] say they run.
    flags = manygil.SharedBuffer(3)
    blockers = [pool.submit(refused_helpers.flag_then_wait, flags, i) for i in (1, 2)]
    queued = pool.submit(refused_helpers.square, 4)
    wait_for_state(lambda: flags[1] == flags[2] == 1, "both workers run a blocker", timeout=120)
    assert queued.cancel()
    with pytest.raises(cf.CancelledError):
        queued.result()
    flags[0] = 1
    assert [b.result(timeout=60) for b in blockers] == ["released", "released"]


def test_a_task_that_fails_mid_run_is_reported_not_rerun(pool):
    runs = manygil.SharedBuffer(1)  # the same memory in interpreters and processes
    f = pool.submit(ext_helpers.count_then_import, runs, "readline")
    with pytest.raises(ImportError, match="readline cannot be imported"):
        f.result(timeout=60)
    assert runs[0] == 1, "ran once, in an interpreter, and was not re-run in a process"
    assert pool.stats()["fallback"] == 0


def test_an_argument_that_needs_a_refused_module_reroutes_the_task(pool):
    box = refused_helpers.Box(41)
    assert pool.submit(ext_helpers.box_value, box).result(timeout=120) == 41
    assert pool.stats()["fallback"] == 1


def test_without_fallback_the_task_fails_with_the_clear_error():
    with Pool(1) as p:
        with pytest.raises(ImportError) as e:
            p.submit(refused_helpers.square, 2).result(timeout=60)
    assert str(e.value).splitlines()[0].startswith("the extension module readline cannot")
    assert p.stats()["fallback"] == 0


def test_warnings_as_errors_fail_the_task_with_the_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)
        with Pool(1, fallback="process") as p:
            with pytest.raises(FallbackWarning):
                p.submit(refused_helpers.square, 2)


def test_bad_fallback_value():
    with pytest.raises(ValueError, match='fallback must be None or "process"'):
        Pool(1, fallback="thread")


def test_submit_after_shutdown_raises(pool):
    pool.submit(refused_helpers.square, 1).result(timeout=120)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(refused_helpers.square, 1)


# --- numpy and Pillow ---------------------------------------------------------------------


def test_numpy_tasks_fall_back_and_share_a_buffer_with_the_process(pool):
    np = pytest.importorskip("numpy", reason="numpy wheels are not installed for this build")
    import numpy_helpers

    assert pool.submit(numpy_helpers.total, 10).result(timeout=120) == 45.0
    buf = manygil.SharedBuffer(1 << 20)
    assert pool.submit(numpy_helpers.fill, buf, 3).result(timeout=60) == 3 << 20
    view = np.frombuffer(buf, dtype=np.uint8)
    assert (view == 3).all(), "the process wrote the main interpreter's memory"
    view[:] = 1
    assert pool.submit(numpy_helpers.read_sum, buf).result(timeout=60) == 1 << 20
    del view


def test_pillow_tasks_fall_back(pool):
    pytest.importorskip("PIL", reason="Pillow wheels are not installed for this build")
    import pillow_helpers

    expected = [pillow_helpers.blur_checksum(s) for s in range(4)]
    assert list(pool.map(pillow_helpers.blur_checksum, range(4), timeout=120)) == expected


def test_functions_of_a_main_script_that_imports_a_refused_module(tmp_path):
    # The usual script: the refused import at the top, tasks defined next to it. A
    # function of the script travels by value with the modules it uses: one that does not
    # use the refused module runs in interpreters, one that does falls back (the process
    # workers import the script as multiprocessing does, without its guarded block).
    script = write_script(
        tmp_path,
        """
        import readline  # refused in own-GIL interpreters
        import warnings
        import manygil

        def square(x):
            return x * x

        def square_with_readline(x):
            readline.get_current_history_length()
            return x * x

        if __name__ == "__main__":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with manygil.Pool(2, fallback="process") as pool:
                    print(list(pool.map(square, range(3), timeout=120)), pool.stats()["fallback"])
                    print(pool.submit(square_with_readline, 6).result(timeout=120))
                    print(list(pool.map(square_with_readline, range(4), timeout=120)))
                    print(pool.stats()["fallback"])
            print([type(w.message).__name__ for w in caught])
        """,
    )
    r = run_file(script, timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:5] == [
        "[0, 1, 4] 0",
        "36",
        "[0, 1, 4, 9]",
        "5",
        "['FallbackWarning']",
    ]


def test_leaving_the_pool_on_keyboard_interrupt_interrupts_process_tasks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        p = Pool(1, fallback="process")
        started = manygil.SharedBuffer(1)
        running = p.submit(refused_helpers.flag_then_sleep, started, 600)
        queued = p.submit(refused_helpers.sleep_for, 600)
        wait_for_state(lambda: started[0] == 1, "the task starts", timeout=120)
        # What `with Pool(...)` does when Ctrl-C leaves the block: it must not wait for
        # the 600 s tasks (pytest-timeout would fail this test).
        p.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
        assert running.done() and queued.done()
        assert running.cancelled() or isinstance(running.exception(), cf.CancelledError)


def test_the_initializer_runs_in_process_workers_too():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        with Pool(1, fallback="process", initializer=ext_helpers.remember, initargs=(7,)) as p:
            assert p.submit(refused_helpers.remembered).result(timeout=120) == 7
            assert p.stats()["fallback"] == 1


# --- process workers that die, hang or ignore their timeout (issue 23, items 2-3) -------


@pytest.fixture
def quiet_fallback():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        yield


@pytest.mark.parametrize(
    ("kill", "cause"),
    [
        ((refused_helpers.die_by_signal, 9), r"killed by signal 9 \(SIGKILL\)"),
        ((refused_helpers.exit_now, 3), r"exited with code 3"),
        ((refused_helpers.segfault,), r"killed by signal 11 \(SIGSEGV\)"),
    ],
    ids=["kill-9", "os._exit", "segfault"],
)
def test_a_dead_process_worker_fails_only_its_task_and_is_replaced(quiet_fallback, kill, cause):
    with Pool(2, fallback="process") as p:
        assert p.submit(refused_helpers.square, 2).result(timeout=120) == 4
        started = manygil.SharedBuffer(1)
        other = p.submit(refused_helpers.flag_then_sleep, started, 0.5)
        wait_for_state(lambda: started[0] == 1, "the other process task started")
        dying = p.submit(*kill)
        with pytest.raises(cf.process.BrokenProcessPool, match=cause):
            dying.result(timeout=60)
        assert other.result(timeout=60) == "slept", "the other worker's task is unaffected"
        # Later tasks succeed, in both workers (a fresh process replaced the dead one).
        assert list(p.map(refused_helpers.square, range(8), timeout=60)) == [
            x * x for x in range(8)
        ]
        assert [p.submit(refused_helpers.square, x).result(timeout=60) for x in range(4)] == [
            0,
            1,
            4,
            9,
        ]
        assert p.stats()["replaced"] == 1


def test_every_process_worker_dying_in_turn_never_breaks_the_fallback(quiet_fallback):
    with Pool(2, fallback="process") as p:
        for _ in range(3):
            dying = [p.submit(refused_helpers.exit_now, 7) for _ in range(2)]
            for f in dying:
                with pytest.raises(cf.process.BrokenProcessPool, match="exited with code 7"):
                    f.result(timeout=120)
            assert p.submit(refused_helpers.square, 3).result(timeout=60) == 9
        assert p.stats()["replaced"] == 6


def test_a_process_task_blocking_sigalrm_times_out_and_its_process_is_replaced(quiet_fallback):
    with Pool(1, fallback="process") as p:
        first_pid = p.submit(refused_helpers.pid).result(timeout=120)
        started = manygil.SharedBuffer(1)
        f = p.apply(refused_helpers.block_alarm_then_sleep, (started, 600), timeout=0.5)
        # Not "the wait timed out" (cf.TimeoutError has no message): the task's own timeout.
        with pytest.raises(TimeoutError, match="past its timeout"):
            f.result(timeout=60)
        assert started[0] == 1
        # One worker: the next task runs only once the stuck process was killed and replaced.
        assert p.submit(refused_helpers.pid).result(timeout=60) != first_pid
        assert p.stats()["replaced"] == 1


def test_a_process_task_in_a_long_c_call_fails_at_its_timeout(quiet_fallback):
    with Pool(1, fallback="process") as p:
        first_pid = p.submit(refused_helpers.pid).result(timeout=120)
        # Hours of pbkdf2 in one C call: neither SIGALRM nor SIGUSR1 can stop it.
        f = p.apply(refused_helpers.pbkdf2, (2**31 - 1,), timeout=0.2)
        with pytest.raises(TimeoutError, match="past its timeout"):
            f.result(timeout=60)
        assert p.submit(refused_helpers.pid).result(timeout=60) != first_pid
        assert p.stats()["replaced"] == 1


def test_a_cancelled_process_task_that_ignores_the_interrupt_is_killed(quiet_fallback):
    with Pool(1, fallback="process") as p:
        p.submit(refused_helpers.square, 1).result(timeout=120)
        started = manygil.SharedBuffer(1)
        f = p.submit(refused_helpers.pbkdf2, 2**31 - 1, started)
        wait_for_state(lambda: started[0] == 1, "the task started")
        assert f.cancel()
        assert f.cancelled()
        assert p.submit(refused_helpers.square, 5).result(timeout=60) == 25
        assert p.stats()["replaced"] == 1


def test_process_tasks_count_in_stats_once_each(quiet_fallback):
    with Pool(2, fallback="process") as p:
        # A task rerouted from an interpreter (its argument needs readline) counts once.
        box = refused_helpers.Box(3)
        assert p.submit(ext_helpers.box_value, box).result(timeout=120) == 3
        assert [p.submit(refused_helpers.square, x).result(timeout=60) for x in range(5)] == [
            0,
            1,
            4,
            9,
            16,
        ]
        with pytest.raises(ValueError):
            p.submit(refused_helpers.raise_value_error, "no").result(timeout=60)
        assert list(p.map(refused_helpers.square, range(6), chunksize=2)) == [
            x * x for x in range(6)
        ]
        started = manygil.SharedBuffer(1)
        running = p.submit(refused_helpers.flag_then_sleep, started, 600)
        wait_for_state(lambda: started[0] == 1, "the process task started")
        assert p.stats()["running"] == 1
        assert running.cancel()
        wait_for_state(lambda: p.stats()["running"] == 0, "the cancelled task left running")
        stats = p.stats()
    expected = {"submitted": 11, "done": 9, "failed": 1, "cancelled": 1, "queued": 0}
    assert {k: stats[k] for k in expected} == expected, stats


# --- issue 23, item 1: process workers never import the main script --------------------------

SCRIPT_WITH_NUMPY = """\
import warnings
import numpy as np
import manygil
warnings.simplefilter("ignore", manygil.FallbackWarning)
print("top level runs", flush=True)

SCALE = 3

class Result:
    def __init__(self, v):
        self.v = v

def setup(tag):
    global TAG
    TAG = tag

def np_task(n):
    return Result(float(np.arange(n).sum() * SCALE))

with manygil.Pool(2, fallback="process") as pool:   # unguarded, at the top level
    out = [pool.submit(np_task, n).result(timeout=120) for n in (10, 100)]
    print([type(r) is Result for r in out], [r.v for r in out])
    print([r.v for r in pool.map(np_task, [4, 5])])
"""


def test_an_unguarded_script_with_a_numpy_function_runs_in_process_workers(tmp_path):
    pytest.importorskip("numpy", reason="numpy wheels are not installed for this build")
    r = run_file(write_script(tmp_path, SCRIPT_WITH_NUMPY), timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "top level runs",  # once: the process workers never ran the script
        "[True, True] [135.0, 14850.0]",  # results of the script's own class
        "[18.0, 30.0]",
    ]


def test_a_dash_c_program_with_a_numpy_function_runs_in_process_workers():
    import subprocess
    import sys

    pytest.importorskip("numpy", reason="numpy wheels are not installed for this build")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT_WITH_NUMPY],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["[True, True] [135.0, 14850.0]", "[18.0, 30.0]"]
