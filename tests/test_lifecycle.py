"""Process-level behaviour, each in a fresh subprocess: clean exit with interpreters still
open, functions from the main script, fork, and Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys

import helpers
import manygil
import pytest
from conftest import run_file, sigint_when_ready, write_script


def test_exit_is_clean_with_interpreters_still_open(tmp_path):
    path = write_script(
        tmp_path,
        """
        import threading, manygil, helpers
        a, b = manygil.create(), manygil.create()
        a.exec("import json")
        t = b.call_in_thread(helpers.spin, 0.2)
        print("ok", a.call(helpers.add, 1, 2))
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok 3"
    assert r.stderr == "", "no warnings (3.14's stdlib warns about remaining interpreters)"


def test_exit_interrupts_a_task_that_never_ends(tmp_path):
    path = write_script(
        tmp_path,
        """
        import manygil, helpers
        from manygil import _native
        from waiting import wait_for_state
        a = manygil.create()
        pending = _native.submit(a.id, helpers.spin_forever, (), {})  # nobody waits for it
        wait_for_state(a.is_running, "the task starts")
        print("exiting", a.is_running())
        """,
    )
    r = run_file(path, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "exiting True"


def test_functions_and_classes_from_the_main_script(tmp_path):
    path = write_script(
        tmp_path,
        """
        import manygil
        print("top level", flush=True)

        class Box:
            def __init__(self, v):
                self.v = v

        def square(x):
            return Box(x.v * x.v)

        if __name__ == "__main__":
            i = manygil.create()
            out = i.call(square, Box(7))
            assert type(out) is Box, type(out)
            print(out.v)
            i.close()
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["top", "level", "49"], "the script ran once"


def test_functions_from_a_dash_m_main_module(tmp_path):
    pkg = tmp_path / "mainpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(
        "import manygil\n"
        "def cube(x):\n    return x ** 3\n"
        "if __name__ == '__main__':\n"
        "    with manygil.create() as i:\n"
        "        print(i.call(cube, 3))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    r = subprocess.run(
        [sys.executable, "-m", "mainpkg.app"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "27"


def test_lambda_from_dash_c_travels_as_code():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    code = "import manygil\nwith manygil.create() as i:\n    print(i.call(lambda x: x + 1, 41))"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_interpreters_that_imported_datetime_end_cleanly(tmp_path):
    """CPython 3.13's _datetime frees its static types' shared parts in the last interpreter
    to end, from the allocator of the first one to import it: an own-GIL interpreter ended
    before the others crashed the process (gh-136423). manygil makes the main interpreter
    import it first (interp/datetime_guard.rs); without that this exits with SIGABRT."""
    path = write_script(
        tmp_path,
        """
        import sys
        assert "_datetime" not in sys.modules, "the main interpreter must not have datetime"
        import manygil, helpers

        for first in ("oldest", "newest"):
            its = [manygil.create() for _ in range(3)]
            for it in its:
                it.exec("import datetime; datetime.datetime.now(datetime.UTC).isoformat()")
            for it in its if first == "oldest" else its[::-1]:
                it.close()
            print("closed", first, "first", flush=True)
        # Pool workers recycled after each task end while the others still hold datetime.
        with manygil.Pool(2, max_tasks_per_worker=1) as pool:
            days = list(pool.map(helpers.days_between, ["2024-01-01"] * 6, ["2024-03-01"] * 6))
        print("pool", days)
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [
        "closed oldest first",
        "closed newest first",
        "pool [60, 60, 60, 60, 60, 60]",
    ], r.stdout + r.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_is_refused_while_interpreters_are_alive(tmp_path):
    path = write_script(
        tmp_path,
        """
        import os, manygil, helpers
        a = manygil.create()
        try:
            os.fork()
            print("forked!")
        except RuntimeError as e:
            print("refused", "gh-139759" in str(e), "close them" in str(e))
        print("still works", a.call(helpers.add, 1, 1))
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["refused True True", "still works 2"], r.stdout + r.stderr


@pytest.mark.skipif(not hasattr(os, "forkpty"), reason="needs forkpty")
def test_pty_fork_is_refused_while_interpreters_are_alive(tmp_path):
    """pty.fork() (os.forkpty) crashes a child the same way os.fork() does."""
    path = write_script(
        tmp_path,
        """
        import pty, manygil, helpers
        a = manygil.create()
        try:
            pid, fd = pty.fork()
            print("forked!" if pid else "child", flush=True)
        except RuntimeError as e:
            print("refused", "gh-139759" in str(e))
        print("still works", a.call(helpers.add, 1, 1))
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["refused True", "still works 2"], r.stdout + r.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_after_close_starts_over(tmp_path):
    path = write_script(
        tmp_path,
        """
        import os, warnings, manygil, helpers
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        a = manygil.create()
        assert a.call(helpers.add, 1, 1) == 2
        a.close()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                a.call(helpers.add, 1, 1)
                code = 10
            except manygil.InterpreterNotFoundError:
                pass
            with manygil.create() as b:
                if b.call(helpers.add, 2, 2) != 4:
                    code = 12
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["child", "0"], r.stdout + r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_blocked_call_promptly(tmp_path):
    path = write_script(
        tmp_path,
        """
        import sys, threading, manygil, helpers
        from waiting import wait_for_state
        i = manygil.create()

        def ready_once_running():
            wait_for_state(i.is_running, "the call starts")
            print("ready", flush=True)

        threading.Thread(target=ready_once_running, daemon=True).start()
        try:
            i.call(helpers.spin_forever)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print("still usable", i.call(helpers.add, 1, 1), flush=True)
        """,
    )
    rc, out, err, elapsed = sigint_when_ready(path, settle=0)
    assert rc == 0, err
    assert out.split("\n")[:2] == ["interrupted", "still usable 2"], out + err
    assert elapsed < 10, f"Ctrl-C took {elapsed:.1f} s: the caller waited for the task to end"


# --- issue 23, item 8: an interpreter slow to end never blocks creating another -------------


def _leave_a_thread(release):
    import threading

    threading.Thread(target=release.wait, args=(120,)).start()
    return "left a thread"


def _slow_atexit(release):
    import atexit

    atexit.register(release.wait, 120)


def test_a_worker_whose_task_left_a_thread_does_not_stop_the_pool_growing():
    release = manygil.Event()
    try:
        with manygil.Pool(1, max_tasks_per_worker=1) as pool:
            assert pool.submit(_leave_a_thread, release).result(60) == "left a thread"
            # The first worker now waits for that thread before it can end; its
            # replacements are created meanwhile and run these.
            assert [pool.submit(helpers.add, i, 1).result(60) for i in range(3)] == [1, 2, 3]
            release.set()
    finally:
        release.set()


def test_a_slow_atexit_callback_does_not_delay_creating_interpreters():
    import threading

    release = manygil.Event()
    it = manygil.create()
    it.call(_slow_atexit, release)
    closer = threading.Thread(target=it.close)
    closer.start()
    try:
        other = manygil.create()  # would wait for the callback if ending held the lock
        assert other.call(helpers.add, 2, 2) == 4
        assert closer.is_alive(), "the first interpreter is still ending"
        other.close()
    finally:
        release.set()
        closer.join(60)
    assert not closer.is_alive()


# --- issue 23, item 6: a thread a task left running never makes exit hang -------------------

LEAVES_A_THREAD = """
import manygil

def leave():
    import threading, time
    threading.Thread(target=time.sleep, args=(3600,)).start()
    return "left"

{body}
"""


def test_exit_gives_up_on_a_worker_held_back_by_a_thread_its_task_left(tmp_path):
    # The pool is not shut down: process exit stops it, waits the grace period for the
    # worker (which waits for the thread), then ends the process without finalizing.
    path = write_script(
        tmp_path,
        LEAVES_A_THREAD.format(
            body="pool = manygil.Pool(1)\nprint(pool.submit(leave).result(60), flush=True)"
        ),
    )
    r = run_file(path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "left"
    assert "a thread a task left running" in r.stderr


def test_the_first_ctrl_c_ends_a_with_pool_waiting_for_such_a_worker(tmp_path):
    path = write_script(
        tmp_path,
        LEAVES_A_THREAD.format(
            body="with manygil.Pool(1) as pool:\n"
            "    pool.submit(leave).result(60)\n"
            "    print('ready', flush=True)\n"
        ),
    )
    rc, out, err, elapsed = sigint_when_ready(path, settle=0.5)
    assert rc != 0 and "KeyboardInterrupt" in err, (rc, err)
    assert elapsed < 15, "one Ctrl-C was enough"


# --- issue 23, item 7: nothing printed when a worker that used threading ends ---------------


def test_workers_that_used_threading_end_without_printing(tmp_path):
    # On 3.13 every such end printed "Exception ignored in _DeleteDummyThreadOnDel".
    path = write_script(
        tmp_path,
        """
        import manygil

        def task():
            import logging
            logging.getLogger("quiet").info("a record")  # current_thread(): a dummy thread
            return 1

        for _ in range(3):
            with manygil.create() as it:
                it.call(task)
        with manygil.Pool(2, max_tasks_per_worker=1) as pool:
            print(sum(pool.map(lambda _: task(), range(6))))
        """,
    )
    r = run_file(path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "6"
    assert r.stderr == "", r.stderr
