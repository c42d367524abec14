"""``sys._current_frames()`` / ``sys._current_exceptions()`` next to running interpreters.

CPython 3.13's versions walk every interpreter's threads and make frame objects of other
interpreters' frames with the caller's allocator, which the owner later frees with its own:
the process dies (``double free or corruption``). Dask's profiler calls
``sys._current_frames()`` every 10 ms, so Dask workers running a pool died. manygil replaces
both on 3.13 with versions that read the calling interpreter's threads, as 3.14's do.
"""

from __future__ import annotations

import sys
import threading

import handle_helpers as hh
import manygil
from conftest import run_file, write_script
from waiting import wait_for_state


def test_sampling_frames_while_pool_workers_run_python_does_not_crash(tmp_path):
    # In a child process: without the fix, 3.13 aborts within a fraction of a second.
    path = write_script(
        tmp_path,
        """
        import sys
        import manygil

        def recurse(n):
            return 0 if n == 0 else 1 + recurse(n - 1)

        def churn(started, stop):
            # Push and pop frames until told to stop (the frames sampled from outside).
            k = recurse(20)
            started.set()
            while not stop.is_set():
                try:
                    k += recurse(20)
                except ZeroDivisionError:
                    pass
            return k

        def sample(stop, rounds):
            seen = 0
            for _ in range(rounds):
                seen = max(seen, len(sys._current_frames()))
                sys._current_exceptions()
            stop.set()
            return seen

        if __name__ == "__main__":
            stop = manygil.Event()
            with manygil.Pool(3) as pool:
                started = [manygil.Event() for _ in range(2)]
                churners = [pool.submit(churn, s, stop) for s in started]
                assert all(s.wait(60) for s in started)
                # A sampler inside an interpreter too: it must not read the main one's frames.
                inner = pool.submit(sample, manygil.Event(), 20_000)
                seen = sample(stop, 200_000)
                assert all(f.result(60) > 0 for f in churners)
                assert inner.result(60) >= 1
            print("ok", seen)
        """,
    )
    proc = run_file(path, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert proc.stdout.startswith("ok"), proc.stdout


def _ident_and_frames():
    import sys
    import threading

    return threading.get_ident(), sorted(sys._current_frames())


def test_current_frames_lists_the_calling_interpreters_threads_only():
    main_ident = threading.get_ident()
    with manygil.Pool(1) as pool:
        worker_ident, inner_keys = pool.submit(_ident_and_frames).result(60)
        assert worker_ident in inner_keys
        assert main_ident not in inner_keys
        release = manygil.Event()
        blocked = pool.submit(hh.wait_event, release, 60)
        wait_for_state(blocked.running, "the blocking task starts")
        try:
            frames = sys._current_frames()
            assert main_ident in frames
            assert frames[main_ident].f_code is (
                test_current_frames_lists_the_calling_interpreters_threads_only.__code__
            )
            assert worker_ident not in frames  # its thread runs the other interpreter
        finally:
            release.set()
        assert blocked.result(60) is True


def test_current_exceptions_reports_the_exception_being_handled():
    try:
        raise KeyError("handled")
    except KeyError as e:
        assert sys._current_exceptions()[threading.get_ident()] is e
    assert sys._current_exceptions()[threading.get_ident()] is None
