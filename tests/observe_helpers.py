"""Tasks for tests/test_observe.py: importable, so that workers find them by name."""

from __future__ import annotations


def outer_waiter(started, release):
    """Set the manygil.Event ``started``, then wait in :func:`inner_waiter` until
    ``release`` is set: a snapshot taken meanwhile shows both frames."""
    started.set()
    return inner_waiter(release)


def inner_waiter(release):
    while not release.wait(0.05):
        pass
    return "released"


def hold_gil_after(started, seconds, done):
    """Set ``started``, then sit in one C call *with the GIL held* (libc ``sleep`` through
    ``ctypes.PyDLL``) for ``seconds``; set ``done`` once it has returned."""
    import ctypes

    sleep = ctypes.PyDLL(None).sleep
    started.set()
    sleep(seconds)
    done.set()
    return "returned"


def names():
    """This worker's names as the task sees them: (interpreter id, its name and origin,
    threading's name for this thread, the OS thread's name)."""
    import threading

    import manygil

    me = manygil.get_current()
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        os_name = f.read().strip()
    return me.id, me.name, me.origin, threading.current_thread().name, os_name


def wait_for_file(started, path):
    """Set ``started``, then poll until the file ``path`` exists."""
    import os

    from waiting import wait_for_state

    started.set()
    wait_for_state(lambda: os.path.exists(path), f"{path} exists", poll=0.01)
    return "released"


def after_import_probe(directory: str) -> tuple:
    """Runs in a fresh interpreter: two ``after_import`` callbacks for ``probe_mod`` (in
    ``directory``, not imported yet), what they saw before and after ``import probe_mod``,
    whether the waiting finder left ``sys.meta_path``, a callback for a module already
    imported, and the module's source read through its (wrapped) loader."""
    import sys

    from manygil._wire.hooks import _WaitFor, after_import

    sys.path.insert(0, directory)
    seen = []

    def waiting() -> int:
        return sum(isinstance(f, _WaitFor) and f.name == "probe_mod" for f in sys.meta_path)

    after_import("probe_mod", lambda m: seen.append(("first", m.__name__, m.VALUE)))
    after_import("probe_mod", lambda m: seen.append(("second", m.__name__)))
    before = (list(seen), waiting())
    import probe_mod

    after = (list(seen), waiting())
    after_import("probe_mod", lambda m: seen.append(("already", m.__name__)))
    source = probe_mod.__spec__.loader.get_source("probe_mod")
    return before, after, seen[-1], source
