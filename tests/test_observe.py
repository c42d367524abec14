"""Names of worker interpreters and threads, and snapshots of a live process (issue 24,
items 7 and 9): real pools and interpreters, a real subprocess for the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import manygil
import observe_helpers as oh
import pytest
from conftest import wait_for_state, write_script
from manygil import interpreters


def _os_thread_names() -> set[str]:
    names = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.add(f.read().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return names


# --- names ---------------------------------------------------------------------------------


def test_pool_workers_are_named_in_every_view():
    with manygil.Pool(1) as pool:
        id, name, origin, thread, os_name = pool.submit(oh.names).result(60)
        assert pool.name.startswith("pool-")
        assert (name, origin) == (f"{pool.name}.worker-1", "pool")
        # threading in the worker, the OS (top -H, py-spy), and main's threading (where
        # the worker thread completed the future) all say manygil-w<id>.
        assert thread == os_name == f"manygil-w{id}"
        assert f"manygil-w{id}" in _os_thread_names()
        assert f"manygil-w{id}" in [t.name for t in threading.enumerate()]
        (listed,) = [i for i in interpreters.list_all() if i.id == id]
        assert (listed.name, listed.origin, listed.thread_name) == (name, "pool", thread)
        with pytest.raises(manygil.InterpreterError, match="worker of a manygil Pool"):
            listed.call(len, "x")
    assert id not in [i.id for i in interpreters.list_all()], "gone once the pool is shut down"


def test_after_import_calls_back_once_the_module_has_run(tmp_path):
    """The one mechanism behind worker thread names and log forwarding: nothing is
    imported ahead, every callback for the module runs once its code has run (before the
    ``import`` returns), the finder then leaves ``sys.meta_path``, a module already
    imported gets its callback at once, and the module's own loader still answers."""
    (tmp_path / "probe_mod.py").write_text("VALUE = 42\n")
    with manygil.create() as it:
        before, after, last, source = it.call(oh.after_import_probe, str(tmp_path))
    assert before == ([], 1)
    assert after == ([("first", "probe_mod", 42), ("second", "probe_mod")], 0)
    assert last == ("already", "probe_mod")
    assert source == "VALUE = 42\n"


def test_created_interpreters_have_a_name_and_an_origin():
    named = manygil.create(name="db-loader")
    plain = manygil.create()
    try:
        assert (named.name, named.origin) == ("db-loader", "create")
        assert (plain.name, plain.origin) == (f"interpreter-{plain.id}", "create")
        id, name, origin, thread, os_name = named.call(oh.names)
        assert (id, name, origin) == (named.id, "db-loader", "create")
        assert thread == os_name == named.thread_name == f"manygil-w{named.id}"
        main = manygil.get_main()
        assert (main.name, main.origin, main.thread_name) == ("main", "main", "MainThread")
        by_id = {i.id: i for i in interpreters.list_all()}
        assert by_id[named.id].name == "db-loader" and by_id[plain.id].origin == "create"
    finally:
        named.close()
        plain.close()


@pytest.mark.parametrize("bad", ["", "a\nb", "x" * 201])
def test_a_bad_name_is_refused(bad):
    with pytest.raises(ValueError, match="name must be 1 to 200 characters"):
        manygil.create(name=bad)


def test_a_name_must_be_a_str():
    with pytest.raises(TypeError, match="name must be a str"):
        manygil.create(name=3)


# --- snapshots -----------------------------------------------------------------------------


def test_a_snapshot_shows_the_blocked_task_and_its_stack():
    started, release = manygil.Event(), manygil.Event()
    with manygil.Pool(2) as pool:
        f = pool.submit(oh.outer_waiter, started, release)
        assert started.wait(60)
        snap = pool.snapshot(timeout=30)
        release.set()
        assert f.result(60) == "released"
    assert snap["kind"] == "pool" and snap["name"] == pool.name
    assert snap["stats"]["running"] == 1 and snap["stats"]["submitted"] == 1
    (busy,) = [w for w in snap["workers"] if w["task"] is not None]
    assert busy["answered"] and busy["note"] is None
    assert busy["task"]["function"] == "observe_helpers.outer_waiter"
    assert busy["task"]["running_for"] >= 0
    assert busy["thread"] == f"manygil-w{busy['id']}"
    (own,) = [t for t in busy["threads"] if t["name"] == busy["thread"]]
    functions = [function for _file, _line, function in own["frames"]]
    # Outermost first, as in a traceback.
    assert functions[-2:] == ["outer_waiter", "inner_waiter"], functions
    assert own["frames"][-1][0] == oh.__file__
    text = manygil.format_snapshot(snap)
    assert "running task" in text and "observe_helpers.outer_waiter" in text
    assert f'File "{oh.__file__}"' in text and "in inner_waiter" in text


def test_a_snapshot_of_a_worker_stuck_in_c_holding_its_gil_does_not_wait_for_it():
    started, done = manygil.Event(), manygil.Event()
    with manygil.Pool(1) as pool:
        pool.submit(oh.names).result(60)  # the worker imports observe_helpers first
        f = pool.submit(oh.hold_gil_after, started, 5, done)
        assert started.wait(60)
        # A probe may slip in between `started` and the C call (a loaded machine can
        # pause the worker there): snapshots are taken until one meets the call.
        while True:
            t0 = time.monotonic()
            snap = pool.snapshot(timeout=0.2)
            took = time.monotonic() - t0
            # It returned while the C call still held the GIL (it lasts 5 s).
            assert not done.is_set(), f"the snapshot waited for the C call ({took:.1f} s)"
            if not snap["workers"][0]["answered"]:
                break
        again = pool.snapshot(timeout=0.2)
        assert not done.is_set()
        assert f.result(60) == "returned"
        # The caller may get its result before the worker has marked itself idle, and the
        # stranded probe thread may not have run yet (a snapshot meanwhile says "an earlier
        # snapshot still waits"): both happen soon, on a loaded machine not at once.
        seen = []

        def idle_and_answering():
            seen.append(pool.snapshot(timeout=30))
            (w,) = seen[-1]["workers"]
            return w["task"] is None and w["answered"]

        wait_for_state(
            idle_and_answering, lambda: f"the worker idle and answering; last: {seen[-1]}"
        )
        after = seen[-1]
    (w,) = snap["workers"]
    assert not w["answered"] and w["threads"] is None
    assert "no answer within 200 ms" in w["note"]
    assert w["task"]["function"] == "observe_helpers.hold_gil_after"
    (w2,) = again["workers"]
    assert not w2["answered"] and "earlier snapshot still waits" in w2["note"]
    assert "no answer within 200 ms" in manygil.format_snapshot(snap)
    # Once the call returned, the worker answers again (the stranded probe has ended).
    (w3,) = after["workers"]
    assert w3["answered"] and w3["task"] is None


def test_snapshot_timeout_is_checked():
    with manygil.Pool(1) as pool:
        with pytest.raises(ValueError, match="timeout must be between 0 and 3600"):
            pool.snapshot(timeout=-1)
        with pytest.raises(TypeError, match="timeout must be a number"):
            pool.snapshot(timeout="1")


def test_snapshot_all_covers_every_live_pool():
    with manygil.Pool(1) as a, manygil.Pool(1) as b:
        names = {s["name"] for s in manygil.snapshot_all(timeout=30) if s["kind"] == "pool"}
        assert {a.name, b.name} <= names
    names = {s["name"] for s in manygil.snapshot_all(timeout=30) if s["kind"] == "pool"}
    assert not {a.name, b.name} & names, "shut-down pools are left out"


SIGNAL_SCRIPT = """
import signal, sys
import manygil, observe_helpers as oh

manygil.enable_inspect_signal(signal.SIGUSR1)
with manygil.Pool(2) as pool:
    started = manygil.Event()
    f = pool.submit(oh.wait_for_file, started, sys.argv[1])
    started.wait()
    print("ready", flush=True)
    print(f.result(), flush=True)  # the main thread waits here when the signal comes
"""


def test_the_inspect_signal_prints_the_snapshot_of_a_live_process(tmp_path):
    path = write_script(tmp_path, SIGNAL_SCRIPT)
    release = tmp_path / "release"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(
        [sys.executable, path, str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        reader.start()
        proc.send_signal(signal.SIGUSR1)
        wait_for_state(lambda: any("in wait_for_file" in line for line in err), "the snapshot")
        release.touch()
        out, _ = proc.communicate(timeout=60)
        reader.join(60)
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(err)
    assert out.strip() == "released"
    text = "".join(err)
    assert f"manygil snapshot of process {proc.pid}" in text
    assert "pool pool-1: " in text and "running 1" in text
    assert "pool-1.worker-1 (thread manygil-w1): running task" in text
    assert "observe_helpers.wait_for_file" in text
