"""What a worker interpreter does just before it is ended (called by the worker's thread,
in that interpreter, from ``interp/worker.rs``).

``Py_EndInterpreter`` waits for the interpreter's non-daemon threads and runs its
``atexit`` callbacks. (Daemon threads exist only under an ``InterpreterConfig`` with
``allow_daemon_threads=True``, e.g. ``"legacy"``: CPython 3.14+ leaves them parked when the
interpreter ends, but 3.13 aborts the process, "not the last thread", so there they are
waited for like the others.) manygil ends interpreters one at a time (creation and ending are
serialized process-wide: concurrent ones crashed CPython), so a worker whose task left a
thread running, or whose ``atexit`` callback is slow, would make every creation wait — a
``Pool(max_tasks_per_worker=1)`` stopped starting workers. :func:`before_end` does that
waiting first, holding no lock, so the end itself is quick.
"""

import sys


def before_end() -> None:
    """Wait for this interpreter's other non-daemon threads (on 3.13 its daemon threads
    too), then run its ``atexit`` callbacks (``Py_EndInterpreter`` then finds nothing left
    to wait for)."""
    threading = sys.modules.get("threading")
    if threading is not None:
        # What threading._shutdown would wait for: started threads of this interpreter,
        # not daemons (on 3.13: daemons too), other than its main thread (this worker's)
        # and the dummies.
        daemons_too = sys.version_info < (3, 14)
        mine = (threading.current_thread(), threading.main_thread())
        while True:
            others = [
                t
                for t in threading.enumerate()
                if t not in mine
                and (daemons_too or not t.daemon)
                and not isinstance(t, threading._DummyThread)
                and t.is_alive()
            ]
            if not others:
                break
            for t in others:
                t.join(0.1)  # sliced, so that an interrupt of the exit path gets through
        # 3.13: the worker thread's _DummyThread (made by any current_thread() call, as
        # logging makes) is forgotten by a tracker object's __del__ when the thread-local
        # storage goes, which Py_EndInterpreter does after clearing threading's globals:
        # "Exception ignored in _DeleteDummyThreadOnDel.__del__ ... TypeError" at every
        # worker end. Dropping the tracker now runs that __del__ while they still exist.
        info = getattr(threading, "_thread_local_info", None)
        if info is not None:
            try:
                del info._track_dummy_thread_ref
            except AttributeError:
                pass
    import atexit

    atexit._run_exitfuncs()
